"""Flags and error handling shared by `distillery evaluate`, `predict` and `export`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from services.cli.params import add_precision_argument
from shared.settings import Settings, get_settings


def add_column_arguments(parser: argparse.ArgumentParser, label_help: str, with_format: bool = False) -> None:
    """--task / --text-column / --label-column (and --format), as `distillery augment` reads them."""
    parser.add_argument("--task", help="GLUE task preset naming the text and label columns (e.g. sst-2, mrpc)")
    parser.add_argument(
        "--text-column", action="append", dest="text_columns", metavar="C", help="text column (once or twice)"
    )
    parser.add_argument("--label-column", help=label_help)
    if with_format:
        parser.add_argument("--format", choices=["tsv", "csv", "jsonl"], help="input format (default: from suffix)")


def add_runtime_arguments(parser: argparse.ArgumentParser, s: Settings) -> None:
    """--batch-size / --max-seq-len / --threads / --precision (PyTorch folders; ONNX files run as stored)."""
    add_precision_argument(parser, s)
    parser.add_argument("--batch-size", type=int, help=f"rows per forward pass ({s.deploy_batch_size})")
    parser.add_argument(
        "--max-seq-len",
        type=int,
        help=f"tokens per row, longer is cut (task's default: {s.max_seq_len_single} single, {s.max_seq_len_pair} pair)",
    )
    parser.add_argument(
        "--threads", type=int, help=f"CPU threads ({s.deploy_threads or 'library default'}; 1 for per-core latency)"
    )


def precision_of(args: argparse.Namespace, s: Settings) -> str:
    """--precision, else DISTILLERY_PRECISION."""
    return args.precision or s.precision


def threads_of(args: argparse.Namespace, s: Settings) -> int:
    return args.threads if args.threads is not None else s.deploy_threads


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input (exit 2 with their message), imported only when a command runs."""
    from shared.dataset_io import DatasetError
    from shared.precision import PrecisionError
    from shared.tasks import UnknownTaskError
    from workers.deploy.errors import DeployError
    from workers.distill.errors import DistillError

    return (DeployError, DatasetError, UnknownTaskError, DistillError, PrecisionError)


def fail(command: str, message: str) -> int:
    print(f"distillery {command}: error: {message}", file=sys.stderr)
    return 2


def check_positive(**values: int | None) -> str | None:
    """A message for the first flag given as zero or less, else None."""
    for name, value in values.items():
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be at least 1, got {value}"
    return None


def run_checked(
    command: str,
    work: Callable[[], int],
    args: argparse.Namespace,
    writes: str | None = None,
    inputs: tuple[str | None, ...] = (),
    model: str | None = None,
) -> int:
    """``work()`` once the runtime flags are at least 1, the ``inputs`` paths exist and the ``model`` passes the
    checks its files alone decide (all before ``work`` imports torch and the model libraries: a typo, a missing
    config.json or an impossible bf16 is answered at once, not after seconds of imports); bad input (and, with
    ``writes``, a failed write of that path) is exit status 2 with a one-line message."""
    bad = check_positive(batch_size=args.batch_size, max_seq_len=args.max_seq_len, threads=args.threads)
    missing = next((path for path in inputs if path and not Path(path).exists()), None)
    if bad or missing:
        return fail(command, bad or f"{missing}: no such file or folder")
    try:
        if model is not None:
            from workers.deploy.loading import check_model

            check_model(model, precision_of(args, get_settings()), args.max_seq_len)
        return work()
    except user_errors() as exc:
        return fail(command, str(exc))
    except OSError as exc:
        if writes is None:
            raise
        return fail(command, f"cannot write {writes}: {exc}")
