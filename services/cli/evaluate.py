"""`distillery evaluate`: a model folder or .onnx file on a labelled file: GLUE metrics, rows/s, latency.

Works on any save_pretrained sequence classifier (teacher or student) and on exported ONNX files (tokenizer
and config.json from the file's folder), so every form of a model is measured the same way.
"""

from __future__ import annotations

import argparse
import json

from services.cli.command import add_command
from services.cli.deploy_args import (
    add_column_arguments,
    add_runtime_arguments,
    fail,
    precision_of,
    run_checked,
    threads_of,
)
from shared.settings import get_settings

#: Batch sizes whose median latency is reported.
LATENCY_BATCHES = (1, 32)


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    parser = add_command(
        subparsers,
        "evaluate",
        run,
        "GLUE metrics, throughput and latency of a model folder or .onnx file on a labelled file",
        s,
    )
    parser.add_argument("--model", required=True, help="model folder (PyTorch or export) or .onnx file")
    parser.add_argument("--data", required=True, help="labelled dataset file (.tsv, .csv or .jsonl)")
    add_column_arguments(parser, "label column (default: the task's)")
    add_runtime_arguments(parser, s)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    """Evaluate a sequence classifier (save_pretrained folder, export folder or .onnx file) on a labelled
    dataset: the task's GLUE metrics, rows/s over the file, and the median latency at batch 1 and batch 32 after
    {s.latency_warmup} warm-up passes."""
    s = get_settings()
    if not args.task:
        return fail("evaluate", "--task is required (it names the metrics and the label set)")
    return run_checked("evaluate", lambda: _evaluate(args, s), args, inputs=(args.model, args.data), model=args.model)


def _evaluate(args: argparse.Namespace, s) -> int:
    from services.cli.progress_bar import RowProgress, quiet_transformers
    from shared.tasks import get_task
    from workers.deploy.evaluation import evaluate, latencies
    from workers.deploy.inputs import labelled_examples
    from workers.deploy.loading import check_model, label_names, load_model
    from workers.deploy.task_fit import fit_to_task, task_order

    quiet_transformers()
    preset = get_task(args.task)
    threads = threads_of(args, s)
    files = check_model(args.model, precision_of(args, s))
    if files.config:  # a head that cannot be scored on the task is refused before the model loads
        task_order(label_names(files.config), preset, files.onnx_file or files.folder)
    model = fit_to_task(load_model(args.model, threads, precision_of(args, s)), preset)
    examples = labelled_examples(
        model.tokenizer, args.data, preset, args.max_seq_len, args.text_columns, args.label_column, model.config
    )
    batch_size = args.batch_size or s.deploy_batch_size
    with RowProgress(len(examples), "evaluate") as bar:
        result = evaluate(model, examples, preset, batch_size, on_progress=bar.update)
    result["latency_ms"] = latencies(model, examples, LATENCY_BATCHES, s.latency_warmup, s.latency_repeats)
    report = {
        "model": str(args.model),
        "runtime": model.kind,
        "precision": model.precision,
        "precision_reason": model.precision_reason,
        "data": str(args.data),
        "task": preset.name,
        "batch_size": batch_size,
        "threads": threads or None,
        **result,
    }
    print(json.dumps(report) if args.json else _text(report, s.latency_repeats, s.latency_warmup))
    return 0


def _text(r: dict, repeats: int, warmup: int) -> str:
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
    latency = ", ".join(f"{k.replace('_', ' ')} {v:.2f} ms" for k, v in r["latency_ms"].items())
    return (
        f"{r['model']} ({r['runtime']}, {r['precision']}) on {r['data']} ({r['task']}, {r['rows']} rows)\n"
        f"metrics: {metrics}\n"
        f"throughput: {r['rows_per_s']:.1f} rows/s at batch {r['batch_size']}, threads {r['threads'] or 'default'}\n"
        f"latency (median of {repeats} after {warmup} warm-up passes): {latency}"
    )
