"""`distillery distill`: TinyBERT task-specific distillation (stage 1 intermediate + stage 2 prediction)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from services.cli.checks import (
    UsageError,
    check_bounds,
    check_no_stale_checkpoint,
    check_not_input,
    check_output_folder,
)
from services.cli.command import add_command
from services.cli.deploy_args import fail
from services.cli.params import params_from_args
from services.cli.training import add_training_arguments, engine_arguments, train_and_print, training_inputs
from shared.job_params import DistillRunParams, ParamsError, StudentParams, StudentShapeParams, resolve_student
from shared.schemas import DistillOptions, StudentCheckpoint, StudentFromTeacher, StudentRequest, StudentShape
from shared.settings import get_settings

if TYPE_CHECKING:
    from workers.distill.progress import ProgressCallback


def register(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    d = DistillRunParams.setting_defaults(s)
    shape = StudentShapeParams.setting_defaults(s)
    p = add_command(subparsers, "distill", run, "distil a fine-tuned teacher into a small student")
    p.add_argument("--teacher", required=True, help="fine-tuned sequence-classification model: folder or hub id")
    add_training_arguments(p, s)
    p.add_argument("--stage1-epochs", type=int, help=f"default: {d['stage1_epochs']}")
    p.add_argument("--stage2-epochs", type=int, help=f"default: {d['stage2_epochs']}")
    p.add_argument("--lr1", type=float, help=f"stage-1 learning rate (default: {d['lr1']})")
    p.add_argument("--lr2", type=float, help=f"stage-2 learning rate (default: {d['lr2']})")
    p.add_argument("--layer-map", help=f"uniform, top, bottom or a list such as 2,4,6 (default: {d['layer_map']})")
    p.add_argument("--temperature", type=float, help=f"default: {d['temperature']}")
    g = p.add_argument_group("student")
    for name in ("layers", "hidden", "heads", "intermediate"):
        g.add_argument(f"--student-{name}", type=int, help=f"default: {shape[name]}")
    g.add_argument(
        "--student-checkpoint",
        help="start from this BERT checkpoint (a general distillation's output, a pre-trained MiniLM); with "
        "--student-layers, keep that many of its layers; another tokenizer's embeddings are re-indexed by token",
    )
    g.add_argument(
        "--student-init",
        choices=("random", "teacher"),
        default="random",
        help="'teacher': copy the teacher's mapped layers (keeps its hidden size)",
    )
    o = p.add_argument_group("more")
    o.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    o.add_argument("--checkpoint-every", type=int, help=f"steps between checkpoints (default: {d['checkpoint_every']})")
    o.add_argument(
        "--allow-weak-teacher",
        action="store_true",
        help="distil even when the teacher does not beat the dev set's majority-class baseline by "
        f"{s.teacher_guard_margin:g} (without this flag such a run exits 2)",
    )
    o.add_argument("--share-projection", action="store_true", help="one W_h for all layers (the reference)")
    o.add_argument("--weights", default="1,1,1,1", help="loss weights: embedding,attention,hidden,prediction")


def run(args: argparse.Namespace) -> int:
    """Both TinyBERT stages in one command; writes the student (save_pretrained + tokenizer) and report.json to
    --output. Kill it and run again with --resume to continue from the checkpoint."""
    try:
        weights = _weights(args.weights)
        check_bounds(DistillOptions, args, *_BOUNDED)
        check_output_folder(args.output)
        inputs = [("--teacher", args.teacher), ("--student-checkpoint", args.student_checkpoint)]
        check_not_input(args.output, *inputs, *training_inputs(args))
        check_no_stale_checkpoint(args.output, args.resume)
    except UsageError as exc:
        return fail("distill", str(exc))
    from workers.distill.job_configs import distill_config
    from workers.distill.losses import LossWeights
    from workers.distill.train import distill

    def train(progress: ProgressCallback | None) -> dict:
        settings = get_settings()
        params = params_from_args(DistillRunParams, args, settings, student=student_from_args(args))
        config = distill_config(
            params,
            teacher=args.teacher,
            train=list(args.train),
            output_dir=args.output,
            resume=args.resume,
            share_projection=args.share_projection,
            loss_weights=LossWeights(*weights),
            **engine_arguments(args),
        )
        return distill(config, progress=progress)

    return train_and_print(train, args.output, _summary)


#: Flags checked against the bounds of the API's ``DistillOptions`` fields of the same name.
_BOUNDED = (
    *("stage1_epochs", "stage2_epochs", "lr1", "lr2", "batch_size", "max_seq_len", "temperature", "seed"),
    "checkpoint_every",
)


def _weights(text: str) -> tuple[float, float, float, float]:
    """--weights as four numbers (embedding, attention, hidden, prediction)."""
    try:
        values = tuple(float(w) for w in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise UsageError(f"--weights {text!r}: give four numbers, e.g. 1,1,1,1")
    embedding, attention, hidden, prediction = values
    return embedding, attention, hidden, prediction


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    teacher, student = report["teacher"], report["student"]
    return {
        "teacher_dev": teacher["dev"],
        "student_dev": student["dev"],
        "teacher_params": teacher["params"],
        "student_params": student["params"],
        "seconds": report["seconds"],
        "precision": report["precision"],
    }


def student_from_args(args: argparse.Namespace) -> StudentParams:
    """The student the --student-* flags ask for, resolved like a request's ``student`` object."""
    request: StudentRequest
    try:
        if args.student_checkpoint:
            request = StudentCheckpoint(checkpoint=args.student_checkpoint, layers=args.student_layers)
        elif args.student_init == "teacher":
            request = StudentFromTeacher(init="teacher", layers=args.student_layers)
        else:
            fields = ("layers", "hidden", "heads", "intermediate")
            request = StudentShape(**{name: getattr(args, f"student_{name}") for name in fields})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ParamsError(f"--student-{err['loc'][0]}: {err['msg']}") from None
    try:
        return resolve_student(request, get_settings())
    except ParamsError as exc:
        raise ParamsError(f"--student-hidden: {exc}") from None
