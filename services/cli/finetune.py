"""`distillery finetune`: a pre-trained encoder -> a task-specific teacher (save_pretrained folder + report)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from services.cli.checks import UsageError, check_bounds, check_not_input, check_output_folder
from services.cli.command import add_command
from services.cli.deploy_args import fail
from services.cli.params import params_from_args
from services.cli.training import add_training_arguments, engine_arguments, train_and_print, training_inputs
from shared.job_params import FinetuneRunParams
from shared.schemas import FinetuneOptions
from shared.settings import get_settings

if TYPE_CHECKING:
    from workers.distill.progress import ProgressCallback


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    d = FinetuneRunParams.setting_defaults(s)
    p = add_command(subparsers, "finetune", run, "fine-tune a pre-trained encoder into a teacher")
    p.add_argument("--model", required=True, help="pre-trained encoder: local folder or hub id")
    p.add_argument("--epochs", type=int, help=f"default: {d['epochs']}")
    p.add_argument("--lr", type=float, help=f"default: {d['lr']}")
    add_training_arguments(p, s)


def run(args: argparse.Namespace) -> int:
    """Fine-tune an encoder (local folder or hub id) on a GLUE-style task; saves the model, its tokenizer and
    report.json in --output."""
    try:
        check_bounds(FinetuneOptions, args, "epochs", "lr", "batch_size", "max_seq_len", "seed")
        check_output_folder(args.output)
        check_not_input(args.output, ("--model", args.model), *training_inputs(args))
    except UsageError as exc:
        return fail("finetune", str(exc))
    from workers.distill.finetune import finetune
    from workers.distill.job_configs import finetune_config

    def train(progress: ProgressCallback | None) -> dict:
        params = params_from_args(FinetuneRunParams, args, get_settings())
        config = finetune_config(
            params, model=args.model, train=args.train, output_dir=args.output, **engine_arguments(args)
        )
        return finetune(config, progress=progress)

    return train_and_print(
        train,
        args.output,
        lambda report: {key: report[key] for key in ("dev", "params", "steps", "seconds", "precision")},
    )
