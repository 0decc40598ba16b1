"""`distillery distill`: TinyBERT task-specific distillation (stage 1 intermediate + stage 2 prediction)."""

from __future__ import annotations

import argparse
import json

from services.cli.training import add_training_arguments, data_overrides, run_training
from shared.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    p = subparsers.add_parser(
        "distill",
        help="distil a fine-tuned teacher into a small student",
        description="Both TinyBERT stages in one command; writes the student (save_pretrained + tokenizer) "
        "and report.json to --output. Kill it and run again with --resume to continue from the checkpoint.",
    )
    p.add_argument("--teacher", required=True, help="fine-tuned sequence-classification model: folder or hub id")
    add_training_arguments(p, s)
    p.add_argument("--stage1-epochs", type=int, default=s.stage1_epochs)
    p.add_argument("--stage2-epochs", type=int, default=s.stage2_epochs)
    p.add_argument("--lr1", type=float, default=s.lr1, help="stage-1 learning rate")
    p.add_argument("--lr2", type=float, default=s.lr2, help="stage-2 learning rate")
    p.add_argument("--layer-map", default=s.layer_map, help="uniform, top, bottom or a list such as 2,4,6")
    p.add_argument("--temperature", type=float, default=s.temperature)
    g = p.add_argument_group("student")
    g.add_argument("--student-layers", type=int, default=s.student_layers)
    g.add_argument("--student-hidden", type=int, default=s.student_hidden)
    g.add_argument("--student-heads", type=int, default=s.student_heads)
    g.add_argument("--student-intermediate", type=int, default=s.student_intermediate)
    g.add_argument("--student-checkpoint", help="start from this checkpoint folder (e.g. general TinyBERT)")
    g.add_argument(
        "--student-init",
        choices=("random", "teacher"),
        default="random",
        help="'teacher': copy the teacher's mapped layers (keeps its hidden size)",
    )
    o = p.add_argument_group("more")
    o.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    o.add_argument("--checkpoint-every", type=int, default=s.checkpoint_every, help="steps between checkpoints")
    o.add_argument("--share-projection", action="store_true", help="one W_h for all layers (the reference)")
    o.add_argument("--weights", default="1,1,1,1", help="loss weights: embedding,attention,hidden,prediction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workers.distill.errors import DistillError
    from workers.distill.losses import LossWeights
    from workers.distill.models import StudentSpec
    from workers.distill.train import DistillConfig, distill

    def train(progress: object) -> dict:
        try:
            weights = LossWeights(*(float(w) for w in args.weights.split(",")))
        except (TypeError, ValueError):
            raise DistillError(f"--weights {args.weights!r}: give four numbers, e.g. 1,1,1,1") from None
        student = StudentSpec(
            args.student_layers,
            args.student_hidden,
            args.student_heads,
            args.student_intermediate,
            checkpoint=args.student_checkpoint,
            init=args.student_init,
        )
        config = DistillConfig.from_settings(
            teacher=args.teacher,
            train=list(args.train),
            task=args.task,
            output_dir=args.output,
            student=student,
            stage1_epochs=args.stage1_epochs,
            stage2_epochs=args.stage2_epochs,
            lr1=args.lr1,
            lr2=args.lr2,
            layer_map=args.layer_map,
            temperature=args.temperature,
            resume=args.resume,
            checkpoint_every=args.checkpoint_every,
            share_projection=args.share_projection,
            loss_weights=weights,
            **data_overrides(args),
        )
        return distill(config, progress=progress)

    report = run_training(train)
    if report is None:
        return 2
    print(
        json.dumps(
            {
                "output": args.output,
                "teacher_dev": report["teacher"]["dev"],
                "student_dev": report["student"]["dev"],
                "teacher_params": report["teacher"]["params"],
                "student_params": report["student"]["params"],
                "seconds": report["seconds"],
            }
        )
    )
    return 0
