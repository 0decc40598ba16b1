"""`distillery finetune`: a pre-trained encoder -> a task-specific teacher (save_pretrained folder + report)."""

from __future__ import annotations

import argparse
import json

from services.cli.training import add_training_arguments, data_overrides, run_training
from shared.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a pre-trained encoder into a teacher",
        description="Fine-tune an encoder (local folder or hub id) on a GLUE-style task; saves the model, "
        "its tokenizer and report.json in --output.",
    )
    p.add_argument("--model", required=True, help="pre-trained encoder: local folder or hub id")
    p.add_argument("--epochs", type=int, default=s.finetune_epochs)
    p.add_argument("--lr", type=float, default=s.finetune_lr)
    add_training_arguments(p, s)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workers.distill.finetune import FinetuneConfig, finetune

    def train(progress: object) -> dict:
        config = FinetuneConfig.from_settings(
            model=args.model,
            train=args.train,
            task=args.task,
            output_dir=args.output,
            epochs=args.epochs,
            lr=args.lr,
            **data_overrides(args),
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
            }
        )
    )
    return 0
