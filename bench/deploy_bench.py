"""Deployed forms of a teacher and its student: dev accuracy and batch latency with 1 thread, side by side.

Forms: PyTorch fp32, PyTorch bf16 weights (only where the CPU has AVX512-BF16 or AMX-BF16), ONNX Runtime fp32
and ONNX Runtime dynamic int8 (the files `distillery export` writes), and, when the optional `openvino` package
is installed (`pip install '.[deploy-bench]'`), OpenVINO's CPU plugin on the fp32 file (f32, and bf16 where
the CPU has it), on the int8 file, and on an int8 model that NNCF's post-training quantization calibrated on
``--calib-rows`` rows of ``--calib`` (the task's train file by default, never the dev rows it is scored on). Timing: one fixed batch (the first
``--batch`` dev rows padded to ``--seq`` tokens), one warm-up pass per form, then ``--rounds`` rounds that each
time every (model, form) once in turn, so a drift of the machine's speed hits all forms alike; the median per
form is reported. Speed-ups are against the fp32 teacher and against the teacher in the same form. The CPU's
model name and its relevant flags are printed first: the order of the forms depends on them.

    .venv/bin/python bench/deploy_bench.py --teacher TEACHER_DIR --student STUDENT_DIR \
        [--dev ../shared/data/glue/SST-2/dev.tsv --task sst-2] [--rounds 20] [--threads 1]
    .venv/bin/python bench/deploy_bench.py --tiny   # smoke run: two tiny random models, 64 dev rows

Output is teed into bench/results/deploy_bench/<UTC time>.txt (bench/record.py: headed by the command, commit,
machine and load) with the raw figures beside it as <UTC time>.json. A --tiny run is a smoke run, not a record:
it writes nowhere unless --out is given.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_facts() -> dict[str, Any]:
    """The CPU's model name and which of the flags that decide bf16/int8 speed it has (Linux /proc/cpuinfo)."""
    from bench.record import SPEED_FLAGS, cpu_model_and_flags

    name, flags = cpu_model_and_flags()
    return {"model": name, "flags": {f: f in flags for f in SPEED_FLAGS}, "cores": os.cpu_count()}


def has_bf16(cpu: dict[str, Any]) -> bool:
    return bool(cpu["flags"]["avx512_bf16"] or cpu["flags"]["amx_bf16"])


class OpenVinoPredictor:
    """An exported ONNX file compiled by OpenVINO's CPU plugin at a precision hint (f32 or bf16)."""

    kind = "openvino"

    def __init__(self, path: Path, threads: int, precision: str) -> None:
        import openvino as ov

        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.input_names = tuple(i.get_any_name() for i in self.compiled.inputs)

    def logits(self, batch: dict[str, Any]) -> Any:
        import numpy as np

        out = self.compiled({n: np.ascontiguousarray(batch[n], dtype=np.int64) for n in self.input_names})
        return np.asarray(out[self.compiled.outputs[0]], dtype=np.float32)


def has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def nncf_int8(work: Path, calibration: list[dict[str, Any]]) -> Path:
    """An OpenVINO IR of the fp32 export with int8 weights and activations, NNCF's post-training quantization
    calibrated on ``calibration`` (batches of model inputs); the transformer preset keeps softmax and layer norm
    in float."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(work / "model.onnx"))
    names = {i.get_any_name() for i in model.inputs}
    data = nncf.Dataset([{k: v for k, v in batch.items() if k in names} for batch in calibration])
    quantized = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    ov.save_model(quantized, str(work / "model-nncf-int8.xml"))
    return work / "model-nncf-int8.xml"


def has_nncf() -> bool:
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_forms(
    fp32: Any, work: Path, threads: int, bf16: bool, calibration: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """OpenVINO on the fp32 export (f32, and bf16 where the CPU has it), on the dynamic-int8 file and, given
    ``calibration`` batches, on NNCF's calibrated int8 model (its float parts in bf16 where the CPU
    has it, OpenVINO's own default there)."""
    from workers.deploy.loading import LoadedModel

    runs = [("OpenVINO fp32", "model.onnx", "f32"), ("OpenVINO int8 file", "model-int8.onnx", "f32")]
    if bf16:
        runs.insert(1, ("OpenVINO bf16", "model.onnx", "bf16"))
    if calibration:
        runs.append(("OpenVINO int8 (NNCF)", nncf_int8(work, calibration).name, "bf16" if bf16 else "f32"))
    return {
        name: LoadedModel(OpenVinoPredictor(work / file, threads, hint), fp32.tokenizer, fp32.labels, work, fp32.config)
        for name, file, hint in runs
    }


def build_forms(
    folder: Path,
    work: Path,
    threads: int,
    bf16: bool,
    calibration: Callable[[Any], list[dict[str, Any]] | None] | None = None,
) -> dict[str, Any]:
    """form name -> LoadedModel, for one model folder (its ONNX files exported into ``work``); ``calibration``:
    a function of the fp32 LoadedModel giving the calibration batches of NNCF's int8 form (called only when nncf
    is installed)."""
    import torch

    from workers.deploy.export_run import ExportOptions, export_model
    from workers.deploy.loading import LoadedModel, load_model
    from workers.deploy.predictors import TorchPredictor

    fp32 = load_model(folder, threads)
    forms = {"PyTorch fp32": fp32}
    if bf16:
        half = TorchPredictor(copy.deepcopy(fp32.predictor.model).to(torch.bfloat16), threads)
        forms["PyTorch bf16"] = LoadedModel(half, fp32.tokenizer, fp32.labels, folder, fp32.config)
    export_model(folder, work, ExportOptions(check_rows=8))
    forms["ONNX fp32"] = load_model(work / "model.onnx", threads)
    forms["ONNX int8 (dynamic)"] = load_model(work / "model-int8.onnx", threads)
    if has_openvino():  # optional: pip install '.[deploy-bench]'
        batches = calibration(fp32) if calibration is not None and has_nncf() else None
        forms.update(openvino_forms(fp32, work, threads, bf16, batches))
    return forms


def timed_batch(model: Any, examples: list, batch: int, seq: int) -> dict[str, Any]:
    """The first ``batch`` rows padded to exactly ``seq`` tokens (a fixed shape for every form)."""
    import torch

    from workers.deploy.inputs import pad_id
    from workers.distill.data import collate

    rows = [examples[i % len(examples)] for i in range(batch)]
    tensors = collate(rows, pad_id(model.tokenizer), torch.device("cpu"), pad_to=seq)
    return {k: v.numpy() for k, v in tensors.items()}


def round_robin(entries: dict[tuple[str, str], Any], batches: dict[str, Any], rounds: int) -> dict:
    """Median ms per (model, form): one warm-up each, then ``rounds`` rounds timing every entry once."""
    times: dict[tuple[str, str], list[float]] = {key: [] for key in entries}
    for (who, _), model in entries.items():
        model.predictor.logits(batches[who])
    for _ in range(rounds):
        for key, model in entries.items():
            started = time.perf_counter()
            model.predictor.logits(batches[key[0]])
            times[key].append((time.perf_counter() - started) * 1000.0)
    return {key: statistics.median(values) for key, values in times.items()}


def accuracy(entries: dict[tuple[str, str], Any], examples: dict[str, list], preset: Any) -> dict:
    from workers.deploy.inference import predict_logits, task_metrics

    return {
        key: task_metrics(predict_logits(model, examples[key[0]], 32), examples[key[0]], preset)
        for key, model in entries.items()
    }


def render(cpu: dict, args: argparse.Namespace, ms: dict, metrics: dict, forms: list[str], rows: int) -> str:
    """The markdown report: setup, then one row per form with teacher and student side by side."""
    first_metric = next(iter(next(iter(metrics.values()))))
    base = ms[("teacher", "PyTorch fp32")]
    lines = [
        f"# Deploy bench, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {socket.gethostname()}",
        "",
        f"CPU: {cpu['model']}, {cpu['cores']} logical cores; "
        + ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in cpu["flags"].items()),
        f"Timing: batch {args.batch} x {args.seq} tokens, {args.threads} thread(s), median of {args.rounds} "
        f"round-robin rounds after one warm-up per form. Dev: {args.dev} ({args.task}, {rows} rows).",
        f"Teacher: {args.teacher}. Student: {args.student}.",
        "",
        f"| form | teacher: dev {first_metric}, ms, speed-up | student: dev {first_metric}, ms, speed-up vs fp32 "
        "teacher, vs teacher in the same form |",
        "| --- | --- | --- |",
    ]
    for form in forms:
        t, s = ("teacher", form), ("student", form)
        lines.append(
            f"| {form} | {100 * metrics[t][first_metric]:.1f}, {ms[t]:.1f} ms, {base / ms[t]:.2f}x "
            f"| {100 * metrics[s][first_metric]:.1f}, {ms[s]:.1f} ms, {base / ms[s]:.2f}x, {ms[t] / ms[s]:.2f}x |"
        )
    if "PyTorch bf16" not in forms:
        lines += ["", "PyTorch bf16 skipped: this CPU has neither AVX512-BF16 nor AMX-BF16."]
    if not any(f.startswith("OpenVINO") for f in forms):
        lines += ["", "OpenVINO skipped: not installed (pip install '.[deploy-bench]')."]
    else:
        lines += ["", "OpenVINO int8 file: OpenVINO running the ONNX Runtime dynamic-int8 export as it is."]
        if any(f.endswith("(NNCF)") for f in forms):
            lines += [
                f"OpenVINO int8 (NNCF): NNCF's post-training quantization (transformer preset) of the fp32 export, "
                f"calibrated on {args.calib_rows_used} rows of {args.calib}."
            ]
    return "\n".join(lines) + "\n"


def tiny_models(work: Path, glue: Path, rows: int) -> tuple[Path, Path, Path]:
    """Smoke-run inputs: two tiny random SST-2 classifiers and a dev sample."""
    from tests.distill_helpers import glue_sample, make_tiny_teacher

    teacher = make_tiny_teacher(work / "teacher", layers=2, hidden=64)
    student = make_tiny_teacher(work / "student", layers=1, hidden=64, seed=1)
    glue_sample(glue, "SST-2", "train", rows, work / "train.tsv")  # NNCF's calibration rows (beside the dev file)
    return teacher, student, glue_sample(glue, "SST-2", "dev", rows, work / "dev.tsv")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", help="teacher save_pretrained folder")
    parser.add_argument("--student", help="student save_pretrained folder")
    parser.add_argument("--dev", default=str(ROOT.parent / "shared/data/glue/SST-2/dev.tsv"))
    parser.add_argument("--task", default="sst-2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calib", help="rows NNCF's int8 form is calibrated on (default: the dev file's train.tsv)")
    parser.add_argument("--calib-rows", type=int, default=256, help="calibration rows (batches of --batch)")
    parser.add_argument("--tiny", action="store_true", help="smoke run on two tiny random models")
    parser.add_argument("--out", help="folder for the .md/.json report instead of a bench/results record")
    args = parser.parse_args()
    if not args.tiny and not (args.teacher and args.student):
        parser.error("give --teacher and --student (or --tiny for a smoke run)")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build every form, then measure accuracy and round-robin latency; returns the raw figures and the
    markdown table (the quality bench calls this too, with its own teacher, student and protocol)."""
    import torch

    from services.cli.progress_bar import quiet_transformers
    from shared.tasks import get_task
    from workers.deploy.inputs import labelled_examples

    quiet_transformers()
    torch.set_num_threads(args.threads)
    cpu = cpu_facts()
    preset = get_task(args.task)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.tiny:
            args.teacher, args.student, args.dev = tiny_models(work, ROOT.parent / "shared/data/glue", 64)
            args.rounds = min(args.rounds, 3)
        entries, examples, batches = {}, {}, {}
        args.calib = args.calib or str(Path(args.dev).with_name("train.tsv"))  # resolved once: the report names it
        calib = Path(args.calib)

        def calibration(model: Any) -> list[dict[str, Any]] | None:
            if not calib.is_file():
                return None
            rows = labelled_examples(model.tokenizer, calib, preset, args.seq)[: args.calib_rows]
            args.calib_rows_used = len(rows)  # what the report names: the file may have fewer than asked
            return [
                timed_batch(model, rows[b : b + args.batch], args.batch, args.seq)
                for b in range(0, len(rows), args.batch)
            ]

        for who, folder in (("teacher", Path(args.teacher)), ("student", Path(args.student))):
            forms = build_forms(folder, work / who, args.threads, has_bf16(cpu), calibration)
            examples[who] = labelled_examples(forms["PyTorch fp32"].tokenizer, args.dev, preset, args.seq)
            batches[who] = timed_batch(forms["PyTorch fp32"], examples[who], args.batch, args.seq)
            entries.update({(who, form): model for form, model in forms.items()})
        metrics = accuracy(entries, examples, preset)
        ms = round_robin(entries, batches, args.rounds)
    form_names = list(dict.fromkeys(form for _, form in entries))
    markdown = render(cpu, args, ms, metrics, form_names, len(examples["teacher"]))
    print(markdown)
    results = [{"model": w, "form": f, "ms": ms[(w, f)], "dev": metrics[(w, f)]} for w, f in entries]
    return {"cpu": cpu, "args": {k: str(v) for k, v in vars(args).items()}, "results": results, "markdown": markdown}


def main() -> None:
    from bench.record import recorded

    args = parse_args()
    if args.out or args.tiny:
        raw = run(args)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "deploy_bench.json").write_text(json.dumps(raw, indent=2) + "\n")
        return
    with recorded("deploy_bench") as record:
        raw = run(args)
    record.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
