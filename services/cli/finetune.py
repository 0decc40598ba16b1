"""`distillery finetune`: a pre-trained encoder -> a task-specific teacher (save_pretrained folder + report)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from services.cli.params import params_from_args
from services.cli.training import add_training_arguments, engine_arguments, run_training
from shared.job_params import FinetuneRunParams
from shared.settings import get_settings

if TYPE_CHECKING:
    from workers.distill.progress import ProgressCallback


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    d = FinetuneRunParams.setting_defaults(s)
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a pre-trained encoder into a teacher",
        description="Fine-tune an encoder (local folder or hub id) on a GLUE-style task; saves the model, "
        "its tokenizer and report.json in --output.",
    )
    p.add_argument("--model", required=True, help="pre-trained encoder: local folder or hub id")
    p.add_argument("--epochs", type=int, help=f"default: {d['epochs']}")
    p.add_argument("--lr", type=float, help=f"default: {d['lr']}")
    add_training_arguments(p, s)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workers.distill.finetune import finetune
    from workers.distill.job_configs import finetune_config

    def train(progress: ProgressCallback | None) -> dict:
        params = params_from_args(FinetuneRunParams, args, get_settings())
        config = finetune_config(
            params, model=args.model, train=args.train, output_dir=args.output, **engine_arguments(args)
        )
        return finetune(config, progress=progress)

    report = run_training(train)
    if report is None:
        return 2
    print(
        json.dumps(
            {
                "output": args.output,
                "dev": report["dev"],
                "params": report["params"],
                "steps": report["steps"],
                "seconds": report["seconds"],
                "precision": report["precision"],
            }
        )
    )
    return 0
