"""Issue 13's acceptance check: a distilled student's int8 ONNX export, run in plain onnxruntime with the
export folder's tokenizer (``tokenizers``, no project code on the inference path), keeps its SST-2 dev accuracy
within 1 point of the PyTorch student's and has at least 1.5x its batch-32 throughput (1 thread).

    .venv/bin/python bench/deploy_acceptance.py --student STUDENT_DIR [--dev ../shared/data/glue/SST-2/dev.tsv]
    .venv/bin/python bench/deploy_acceptance.py --tiny    # smoke run on a tiny random model (recorded nowhere)

The student is exported with `distillery export --quantize int8` (a subprocess, as a user runs it). Timing:
one batch of 32 dev rows padded to --seq tokens, one warm-up each, then --rounds rounds alternating between
PyTorch fp32 and the int8 file; medians compared. Teed into bench/results/deploy_acceptance/ unless --tiny.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dev_rows(path: Path) -> tuple[list[str], list[int]]:
    """SST-2 dev sentences and labels, read as plain TSV (nothing of the project's)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    s, y = head.index("sentence"), head.index("label")
    rows = [line.split("\t") for line in lines[1:] if line]
    return [r[s] for r in rows], [int(r[y]) for r in rows]


def plain_onnx(folder: Path, threads: int) -> tuple[Any, Any]:
    """model-int8.onnx in an onnxruntime session and the folder's tokenizer.json, as docs/deploy.md shows."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    pad = json.loads((folder / "tokenizer_config.json").read_text()).get("pad_token", "[PAD]")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad), pad_token=pad)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(folder / "model-int8.onnx"), options, providers=["CPUExecutionProvider"]), tokenizer


def onnx_feed(session: Any, tokenizer: Any, texts: list[str], seq: int, fixed: bool = False) -> dict[str, Any]:
    import numpy as np

    tokenizer.enable_truncation(max_length=seq)
    if fixed:
        tokenizer.enable_padding(
            length=seq, pad_id=tokenizer.padding["pad_id"], pad_token=tokenizer.padding["pad_token"]
        )
    enc = tokenizer.encode_batch(texts)
    arrays = {"input_ids": [e.ids for e in enc], "token_type_ids": [e.type_ids for e in enc]}
    arrays["attention_mask"] = [e.attention_mask for e in enc]
    return {i.name: np.array(arrays[i.name], dtype=np.int64) for i in session.get_inputs()}


def pytorch_student(student: Path) -> tuple[Any, Any]:
    """The PyTorch fp32 student and its tokenizer (transformers), the reference of both checks."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(str(student)).eval(), AutoTokenizer.from_pretrained(
        str(student)
    )


def accuracies(pt: tuple[Any, Any], onnx: tuple[Any, Any], texts: list[str], labels: list[int], seq: int) -> dict:
    """Dev accuracy of the PyTorch student and of the int8 file, batch 32, padded to each batch's longest row."""
    import numpy as np
    import torch

    (model, hf_tok), (session, tokenizer) = pt, onnx
    torch_preds, onnx_preds = [], []
    for i in range(0, len(texts), 32):
        chunk = texts[i : i + 32]
        with torch.inference_mode():
            batch = hf_tok(chunk, padding=True, truncation=True, max_length=seq, return_tensors="pt")
            torch_preds += model(**batch).logits.argmax(-1).tolist()
        onnx_preds += session.run(None, onnx_feed(session, tokenizer, chunk, seq))[0].argmax(-1).tolist()
    gold = np.array(labels)
    return {name: float(np.mean(np.array(p) == gold)) for name, p in (("pytorch", torch_preds), ("int8", onnx_preds))}


def throughput(pt: tuple[Any, Any], onnx: tuple[Any, Any], texts: list[str], seq: int, rounds: int) -> dict:
    """Rows/s at batch 32 of each, from median latencies of alternating rounds."""
    import torch

    (model, hf_tok), (session, tokenizer) = pt, onnx
    batch = (texts * 32)[:32]
    encoded = hf_tok(batch, padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
    feed = onnx_feed(session, tokenizer, batch, seq, fixed=True)
    runs = {"pytorch": lambda: model(**encoded), "int8": lambda: session.run(None, feed)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.inference_mode():
        for fn in runs.values():
            fn()
        for _ in range(rounds):
            for name, fn in runs.items():
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
    return {name: 32 / statistics.median(values) for name, values in times.items()}


def check(args: argparse.Namespace) -> bool:
    import torch

    torch.set_num_threads(args.threads)
    texts, labels = dev_rows(Path(args.dev))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        cmd = [sys.executable, "-m", "services.cli.main", "export", "--model", args.student, "--output", str(out)]
        print("$", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd + ["--quantize", "int8"], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        onnx, pt = plain_onnx(out, args.threads), pytorch_student(Path(args.student))
        acc = accuracies(pt, onnx, texts, labels, args.seq)
        speed = throughput(pt, onnx, texts, args.seq, args.rounds)
    gap = 100 * (acc["pytorch"] - acc["int8"])
    ratio = speed["int8"] / speed["pytorch"]
    print(
        f"student {args.student}, dev {args.dev} ({len(texts)} rows), {args.threads} thread(s), batch 32 x {args.seq}"
    )
    print(
        f"dev accuracy: PyTorch fp32 {100 * acc['pytorch']:.2f}, ONNX int8 (plain onnxruntime) {100 * acc['int8']:.2f}; gap {gap:.2f} points"
    )
    print(
        f"throughput at batch 32: PyTorch fp32 {speed['pytorch']:.1f} rows/s, ONNX int8 {speed['int8']:.1f} rows/s; {ratio:.2f}x"
    )
    ok_acc, ok_speed = gap <= 1.0, ratio >= 1.5
    print(
        f"accuracy within 1 point: {'PASS' if ok_acc else 'FAIL'}; throughput >= 1.5x: {'PASS' if ok_speed else 'FAIL'}"
    )
    return ok_acc and ok_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", help="distilled student folder (save_pretrained)")
    parser.add_argument("--dev", default=str(ROOT.parent / "shared/data/glue/SST-2/dev.tsv"))
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="smoke run on a tiny random model, 64 dev rows")
    args = parser.parse_args()
    if args.tiny:
        from tests.distill_helpers import glue_sample, make_tiny_teacher

        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            args.student = str(make_tiny_teacher(work / "student", layers=1))
            args.dev = str(glue_sample(ROOT.parent / "shared/data/glue", "SST-2", "dev", 64, work / "dev.tsv"))
            args.rounds = 3
            check(args)
        return
    if not args.student:
        parser.error("give --student (or --tiny)")
    from bench.record import recorded

    with recorded("deploy_acceptance"):
        passed = check(args)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
