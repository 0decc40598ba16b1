"""Where the augmentation MLM's time goes on a GPU: the masked copies of SST-2 rows through
``MaskedLM.top_candidates`` timed by part (input building, padding, forward, top-K to the host, words), per
batch-size and precision, and one torch.profiler table. Run on a GPU machine after ``gpu_carry.py unpack``:

    python bench/gpu_mlm_profile.py --shared /tmp/gpu-shared --rows 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def jobs_for(mlm: Any, texts: list[str]) -> list[tuple[tuple[int, ...], int]]:
    """The (ids, position) jobs the augmenter asks the MLM for (single-piece eligible words, deduplicated)."""
    from workers.augment.stopwords import load_stop_words
    from workers.augment.words import is_eligible, split_words

    stop = load_stop_words(None)
    jobs: dict[tuple[tuple[int, ...], int], None] = {}
    for text, encoding in zip(texts, mlm.encode(texts)):
        for word in split_words(text, encoding):
            if word.num_pieces == 1 and is_eligible(word.text, stop):
                jobs[(tuple(encoding.ids), word.token_start)] = None
    return list(jobs)


def timed_parts(mlm: Any) -> dict[str, float]:
    """Wrap the MLM's parts on the instance; returns the dict their seconds accumulate in."""
    import torch

    parts: dict[str, float] = {"build_input": 0.0, "pad_batch": 0.0, "forward_topk": 0.0, "batches": 0}

    def wrap(name: str, sync: bool) -> None:
        inner = getattr(mlm, name)

        def call(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            out = inner(*a, **kw)
            if sync and mlm.device.type == "cuda":
                torch.cuda.synchronize()
            parts[name] += time.perf_counter() - started
            if name == "forward_topk":
                parts["batches"] += 1
            return out

        setattr(mlm, name if name != "forward_topk" else "_forward_topk", call)

    mlm.forward_topk = mlm._forward_topk
    wrap("build_input", False)
    wrap("pad_batch", False)
    wrap("forward_topk", True)
    return parts


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--device", default="cuda")
    args = p.parse_args(argv)
    import torch

    from workers.augment.mlm import MaskedLM

    lines = (args.shared / "data" / "glue" / "SST-2" / "train.tsv").read_text().splitlines()[1 : args.rows + 1]
    texts = [line.split("\t")[0] for line in lines]
    mlm = MaskedLM(str(args.shared / "models" / "minilm3-mlm-rough"), args.device)
    jobs = jobs_for(mlm, texts)
    lengths = sorted({len(ids) for ids, _ in jobs})
    print(f"{len(texts)} rows, {len(jobs)} masked copies, {len(lengths)} distinct lengths {lengths[0]}..{lengths[-1]}")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}")
    mlm.top_candidates(jobs[:64], k=15, batch_size=64, bf16=True)  # warm up both precisions
    mlm.top_candidates(jobs[:64], k=15, batch_size=64, bf16=False)
    chunk = max(1, len(jobs) * 256 // len(texts))  # the engine's chunk: the copies of 256 input rows
    cuda = mlm.device.type == "cuda"
    configs = [(bf16, cudnn) for bf16 in (True, False) for cudnn in ((True, False) if cuda and bf16 else (False,))]
    for bf16, cudnn in configs:
        if cuda:
            torch.backends.cuda.enable_cudnn_sdp(cudnn)
        for batch in (32, 256, 1024):
            for attempt in (1, 2):  # the 2nd pass meets only shapes the 1st already ran
                parts = timed_parts(mlm)
                started = time.perf_counter()
                for s in range(0, len(jobs), chunk):
                    mlm.top_candidates(jobs[s : s + chunk], k=15, batch_size=batch, bf16=bf16)
                total = time.perf_counter() - started
                del mlm.build_input, mlm.pad_batch, mlm._forward_topk, mlm.forward_topk
                text = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
                print(f"chunk {chunk:5d} bf16 {bf16!s:5} cudnn_sdp {cudnn!s:5} batch {batch:5d} pass {attempt}: "
                      f"{total:6.2f} s ({len(jobs) / total:8.0f} copies/s); {text}", flush=True)  # fmt: skip
    if cuda:
        torch.backends.cuda.enable_cudnn_sdp(False)
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if mlm.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        mlm.top_candidates(jobs[:2500], k=15, batch_size=256, bf16=True)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=15))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
