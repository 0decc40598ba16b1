"""`distillery distill-general`: TinyBERT's general distillation of a pre-trained encoder on unlabelled text."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from services.cli.params import add_precision_argument
from shared.settings import get_settings

if TYPE_CHECKING:
    from workers.distill.progress import ProgressCallback


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    p = subparsers.add_parser(
        "distill-general",
        help="general distillation: a pre-trained encoder into a small student, on unlabelled text",
        description="Embedding, attention and hidden losses (no prediction loss) on a plain-text corpus; writes a "
        "BertModel folder, its tokenizer and report.json to --output, a starting point for `distill "
        "--student-checkpoint`. Kill it and run again with --resume to continue from the checkpoint.",
    )
    p.add_argument("--teacher", required=True, help="pre-trained encoder (not fine-tuned): folder or hub id")
    p.add_argument(
        "--corpus", required=True, nargs="+", help=".txt files (one passage per line) or datasets' text columns"
    )
    p.add_argument("--output", required=True, help="folder for the student encoder")
    p.add_argument("--text-columns", nargs="+", help="text columns of table corpora (default: a GLUE task's)")
    for name, default in (
        ("layers", s.student_layers),
        ("hidden", s.student_hidden),
        ("heads", s.student_heads),
        ("intermediate", s.student_intermediate),
    ):
        p.add_argument(f"--student-{name}", type=int, default=default, help=f"default: {default}")
    p.add_argument(
        "--student-init",
        choices=("auto", "random", "pruned"),
        default=s.general_student_init,
        help="pruned: start from the teacher's mapped layers cut to the student's widths (BERT teachers); random: "
        f"the paper's fresh student; auto: pruned where the teacher allows it (default: {s.general_student_init})",
    )
    p.add_argument("--epochs", type=int, default=s.general_epochs, help=f"default: {s.general_epochs}")
    p.add_argument("--lr", type=float, default=s.general_lr, help=f"default: {s.general_lr}")
    p.add_argument("--batch-size", type=int, default=s.batch_size, help=f"default: {s.batch_size}")
    p.add_argument("--max-seq-len", type=int, default=s.general_max_seq_len, help=f"default: {s.general_max_seq_len}")
    p.add_argument("--layer-map", default=s.layer_map, help=f"default: {s.layer_map}")
    p.add_argument("--seed", type=int, default=s.seed, help=f"default: {s.seed}")
    p.add_argument("--device", default=s.device, help="auto, cpu or cuda[:i]")
    p.add_argument("--checkpoint-every", type=int, default=s.checkpoint_every, help="steps between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    add_precision_argument(p, s)
    p.set_defaults(func=run)


#: Flags passed to GeneralDistillConfig as they are.
_RECIPE = ("epochs", "lr", "batch_size", "max_seq_len", "layer_map", "seed", "device", "checkpoint_every", "resume")

#: Flags checked against the bounds of the API's ``GeneralDistillationRequest`` fields of the same name.
_BOUNDED = ("epochs", "lr", "batch_size", "max_seq_len", "seed", "checkpoint_every")


def run(args: argparse.Namespace) -> int:
    from services.cli.checks import (
        UsageError,
        check_bounds,
        check_no_stale_checkpoint,
        check_not_input,
        check_output_folder,
    )
    from services.cli.deploy_args import fail
    from services.cli.training import run_training
    from shared.job_params import heads_problem
    from shared.schemas import GeneralDistillationRequest, GeneralStudent

    try:
        check_bounds(GeneralDistillationRequest, args, *_BOUNDED)
        check_bounds(GeneralStudent, args, "layers", "hidden", "heads", "intermediate", prefix="student_")
        if heads_problem(args.student_hidden, args.student_heads):
            raise UsageError(f"--student-hidden {args.student_hidden} is not a multiple of --student-heads")
        check_output_folder(args.output)
        check_not_input(args.output, ("--teacher", args.teacher), *(("--corpus", path) for path in args.corpus))
        check_no_stale_checkpoint(args.output, args.resume)
    except UsageError as exc:
        return fail("distill-general", str(exc))
    from workers.distill.general import GeneralDistillConfig, general_distill
    from workers.distill.models import StudentSpec

    def train(progress: ProgressCallback | None) -> dict:
        student = StudentSpec(
            args.student_layers, args.student_hidden, args.student_heads, args.student_intermediate,
            init=args.student_init,
        )  # fmt: skip
        config = GeneralDistillConfig.from_settings(
            teacher=args.teacher,
            corpus=list(args.corpus),
            output_dir=args.output,
            student=student,
            text_columns=tuple(args.text_columns) if args.text_columns else None,
            precision=args.precision or get_settings().precision,
            **{name: getattr(args, name) for name in _RECIPE},
        )
        return general_distill(config, progress=progress)

    report = run_training(train)
    if report is None:
        return 2
    summary = {k: report[k] for k in ("student", "corpus", "layer_map", "precision", "seconds")}
    print(json.dumps({"output": args.output, **summary, "corpus": {**report["corpus"], "files": len(args.corpus)}}))
    return 0
