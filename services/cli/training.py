"""What `distillery finetune` and `distillery distill` share: their data/run flags and the error handling
around a training run (a user-fixable error is one line and exit status 2, never a traceback)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from services.cli.params import add_precision_argument
from shared.job_params import FinetuneRunParams
from shared.settings import Settings


def add_training_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """--train/--dev/--task/--output, columns, batch size, length, seed, device and precision; unset ones take the
    defaults of the resolved params (``shared.job_params``), shown in the help."""
    d = FinetuneRunParams.setting_defaults(settings)  # batch_size and seed are the same for distillation
    parser.add_argument("--train", required=True, nargs="+", help="training file(s): .tsv, .csv or .jsonl")
    parser.add_argument("--dev", help="dev file for the metrics in report.json")
    parser.add_argument("--task", required=True, help="GLUE task preset (sst-2, mrpc, rte, sts-b, ...)")
    parser.add_argument("--output", required=True, help="folder for the trained model")
    parser.add_argument("--batch-size", type=int, help=f"default: {d['batch_size']}")
    parser.add_argument(
        "--max-seq-len",
        type=int,
        help=f"default: {settings.max_seq_len_single} single sentence, {settings.max_seq_len_pair} pairs",
    )
    parser.add_argument("--text-columns", nargs="+", help="override the task's text columns")
    parser.add_argument("--label-column", help="override the task's label column")
    parser.add_argument("--seed", type=int, help=f"default: {d['seed']}")
    parser.add_argument("--device", default=settings.device, help="auto, cpu or cuda[:i]")
    add_precision_argument(parser, settings)


def engine_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields that `add_training_arguments` collected and that are not job parameters."""
    return {
        "dev": args.dev,
        "text_columns": tuple(args.text_columns) if args.text_columns else None,
        "label_column": args.label_column,
        "device": args.device,
    }


def training_inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(flag, path) of the data files `add_training_arguments` collected, for ``checks.check_not_input``."""
    return [*(("--train", path) for path in args.train), ("--dev", args.dev)]


def run_training(train: Callable[[Any], dict[str, Any]]) -> dict[str, Any] | None:
    """Call ``train(progress)`` under a tqdm progress bar; None (after one printed line) on a user error."""
    from services.cli.progress_bar import TqdmProgress, quiet_transformers
    from shared.dataset_io import DatasetError
    from shared.job_params import ParamsError
    from shared.tasks import UnknownTaskError
    from workers.distill.errors import DistillError

    quiet_transformers()
    bar = TqdmProgress()
    try:
        return train(bar)
    except (DistillError, DatasetError, UnknownTaskError, ParamsError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return None
    finally:
        bar.close()


def train_and_print(
    train: Callable[[Any], dict[str, Any]], output: str, summary: Callable[[dict[str, Any]], dict[str, Any]]
) -> int:
    """``run_training(train)``, then one JSON line: ``output`` and the ``summary`` of the report; exit status 2
    on a user error."""
    report = run_training(train)
    if report is None:
        return 2
    print(json.dumps({"output": output, **summary(report)}))
    return 0
