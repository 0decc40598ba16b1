"""`distillery finetune`: a pre-trained encoder -> a task-specific teacher (save_pretrained folder + report)."""

from __future__ import annotations

import argparse
import json
import sys

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
    p.add_argument("--train", required=True, nargs="+", help="training file(s): .tsv, .csv or .jsonl")
    p.add_argument("--dev", help="dev file for the metrics in report.json")
    p.add_argument("--task", required=True, help="GLUE task preset (sst-2, mrpc, rte, sts-b, ...)")
    p.add_argument("--output", required=True, help="folder for the fine-tuned teacher")
    p.add_argument("--epochs", type=int, default=s.finetune_epochs)
    p.add_argument("--lr", type=float, default=s.finetune_lr)
    p.add_argument("--batch-size", type=int, default=s.batch_size)
    p.add_argument("--max-seq-len", type=int, default=None,
                   help=f"default: {s.max_seq_len_single} single sentence, {s.max_seq_len_pair} pairs")
    p.add_argument("--text-columns", nargs="+", help="override the task's text columns")
    p.add_argument("--label-column", help="override the task's label column")
    p.add_argument("--seed", type=int, default=s.seed)
    p.add_argument("--device", default=s.device, help="auto, cpu or cuda[:i]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shared.dataset_io import DatasetError
    from shared.tasks import UnknownTaskError
    from services.cli.progress_bar import TqdmProgress, quiet_transformers
    from workers.distill.errors import DistillError
    from workers.distill.finetune import FinetuneConfig, finetune

    quiet_transformers()
    bar = TqdmProgress()
    try:
        config = FinetuneConfig.from_settings(
            model=args.model, train=args.train, task=args.task, output_dir=args.output, dev=args.dev,
            epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_seq_len=args.max_seq_len,
            text_columns=tuple(args.text_columns) if args.text_columns else None,
            label_column=args.label_column, seed=args.seed, device=args.device,
        )
        report = finetune(config, progress=bar)
    except (DistillError, DatasetError, UnknownTaskError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    print(json.dumps({"output": args.output, "dev": report["dev"], "params": report["params"],
                      "steps": report["steps"], "seconds": report["seconds"]}))
    return 0
