"""`distillery predict`: batch inference over a dataset file with a model folder or .onnx file.

Reads the input with `distillery augment`'s reader (TSV/CSV/JSONL; task preset or columns; no label needed),
refuses a bad file before any model loads, and writes the input's columns plus ``prediction`` and the class
probabilities (or the score, for regression) in the input's format, atomically.
"""

from __future__ import annotations

import argparse
import sys
import time

from services.cli.checks import UsageError, check_not_input, check_output_file
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


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    parser = add_command(subparsers, "predict", run, "run a model folder or .onnx file over a dataset file")
    parser.add_argument("--model", required=True, help="model folder (PyTorch or export) or .onnx file")
    parser.add_argument("--input", required=True, help="dataset file (.tsv, .csv or .jsonl)")
    parser.add_argument("--output", required=True, help="where to write the predictions (input's format)")
    add_column_arguments(parser, "label column, if the file has one (copied unchanged; not needed)", with_format=True)
    add_runtime_arguments(parser, s)


def run(args: argparse.Namespace) -> int:
    """Predict every row of a dataset file; the output has the input's columns plus `prediction` and one
    `prob_<class>` column per class (regression: `prediction` is the score)."""
    try:
        check_output_file(args.output)
        check_not_input(args.output, ("--input", args.input), ("--model", args.model), folder=False)
    except UsageError as exc:
        return fail("predict", str(exc))
    return run_checked(
        "predict", lambda: _predict(args), args, writes=args.output, inputs=(args.model, args.input), model=args.model
    )


def _predict(args: argparse.Namespace) -> int:
    from services.cli.progress_bar import RowProgress, quiet_transformers
    from shared.dataset_io import DatasetError, read_table, resolve_spec, write_table
    from shared.tasks import get_task
    from workers.deploy.inputs import max_seq_len_for
    from workers.deploy.loading import load_model
    from workers.deploy.predictions import predict_table

    s = get_settings()
    quiet_transformers()
    started = time.perf_counter()
    table = read_table(args.input, args.format, task=args.task)
    preset = get_task(args.task) if args.task else None
    label = args.label_column
    if label is None and preset is not None and preset.label_column not in table.columns:
        label = ""  # a task preset names a label column; predicting needs none
    spec = resolve_spec(table, task=args.task, text_columns=args.text_columns, label_column=label, name=args.input)
    if preset is not None and len(spec.text_columns) != len(preset.text_columns):
        raise DatasetError(
            f"task {preset.name} reads {len(preset.text_columns)} text column(s) {list(preset.text_columns)}, "
            f"got {list(spec.text_columns)}",
            path=args.input,
        )
    model = load_model(args.model, threads_of(args, s), precision_of(args, s))
    length = max_seq_len_for(preset, len(spec.text_columns) == 2, args.max_seq_len, model.config)
    with RowProgress(len(table.rows), "predict") as bar:
        out, truncated = predict_table(
            model, table, spec, args.batch_size or s.deploy_batch_size, length, bar.update, name=args.input
        )
    write_table(out, args.output)
    if truncated:
        print(
            f"distillery predict: {truncated} of {len(out.rows)} rows were longer than {length} tokens and were cut "
            "(--max-seq-len)",
            file=sys.stderr,
        )
    print(
        f"predicted {args.input} -> {args.output}: {len(out.rows)} rows, {model.kind} model {args.model} "
        f"({model.precision}), "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0
