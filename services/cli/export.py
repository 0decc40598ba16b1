"""`distillery export`: a model folder -> ONNX fp32 + dynamic int8, tokenizer, config.json and export.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.cli.command import add_command
from services.cli.deploy_args import add_column_arguments, check_positive, fail, user_errors
from shared.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    parser = add_command(subparsers, "export", run, "export a model folder to ONNX (fp32 and int8) for deployment", s)
    parser.add_argument("--model", required=True, help="save_pretrained sequence-classifier folder")
    parser.add_argument("--output", required=True, help="folder to write (created if missing)")
    parser.add_argument("--quantize", choices=["int8", "none"], default="int8", help="int8 (default) or none")
    parser.add_argument("--check", help="labelled dev file: metrics of PyTorch and of each ONNX file (needs --task)")
    add_column_arguments(parser, "label column of --check (default: the task's)")
    parser.add_argument("--check-rows", type=int, help=f"rows whose logits are compared ({s.export_check_rows})")
    parser.add_argument(
        "--max-seq-len", type=int, help="tokens per check row, as the model was trained (default: the task's)"
    )
    parser.add_argument("--opset", type=int, help=f"ONNX opset, 17 or later ({s.onnx_opset})")
    parser.add_argument("--threads", type=int, help="CPU threads of the checks (default: the library's)")


def run(args: argparse.Namespace) -> int:
    """Export a save_pretrained sequence classifier to ONNX (opset {s.onnx_opset}, dynamic batch and sequence
    axes) and quantize it to dynamic int8; the output folder holds model.onnx, model-int8.onnx, the tokenizer,
    config.json and export.json (sizes, largest logit difference from PyTorch, and with --check the task's
    metrics of every file)."""
    from workers.deploy.loading import check_torch_folder

    bad = check_positive(
        check_rows=args.check_rows, max_seq_len=args.max_seq_len, threads=args.threads, opset=args.opset
    )
    if bad:
        return fail("export", bad)
    if args.check and not args.task:
        return fail("export", "--check needs --task (which metrics to compute and how to read the labels)")
    try:
        check_torch_folder(Path(args.model))  # a wrong folder is refused before the seconds of imports below
    except user_errors() as exc:
        return fail("export", str(exc))
    from services.cli.progress_bar import quiet_transformers
    from workers.deploy.export_run import ExportOptions, export_model

    quiet_transformers()
    opts = ExportOptions(
        quantize=args.quantize,
        check=Path(args.check) if args.check else None,
        task=args.task,
        text_columns=args.text_columns,
        label_column=args.label_column,
        check_rows=args.check_rows,
        max_seq_len=args.max_seq_len,
        opset=args.opset,
        threads=args.threads or 0,
    )
    try:
        report = export_model(args.model, args.output, opts, log=lambda m: print(m, file=sys.stderr))
    except user_errors() as exc:
        return fail("export", str(exc))
    except OSError as exc:
        return fail("export", f"cannot write {args.output}: {exc}")
    print(json.dumps({"output": args.output, "files": report["files"], "pytorch": report["pytorch"]}))
    return 0
