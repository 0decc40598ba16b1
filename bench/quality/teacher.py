"""Experiment 1: fine-tune an encoder (default: the MiniLM-L6 package) into a teacher; report its dev metrics.

    .venv/bin/python -m bench.quality.teacher --profile cpu --task sst-2

Writes results/teacher_<task>.json and .md; the teacher folder is cached under --cache and reused
by the student experiment (delete it, or pass --force, to retrain).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from bench.quality.common import (
    MINILM_PACKAGE,
    fmt,
    log,
    machine,
    markdown_table,
    minilm_path,
    model_label,
    parse_task_command,
    set_threads,
    subset_file,
    task_file,
    write_result,
)
from bench.quality.profiles import Profile, get_profile


def teacher_dir(cache: str | Path, profile: Profile, task: str) -> Path:
    return Path(cache) / profile.name / task / "teacher"


def ensure_teacher(
    profile: Profile, task: str, *, glue: str, cache: str, base_model: str | None, force: bool = False
) -> dict[str, Any]:
    """Fine-tune (or reuse) the teacher; returns its finetune report."""
    from workers.distill.finetune import FinetuneConfig, finetune

    folder = teacher_dir(cache, profile, task)
    report_path = folder / "report.json"
    if report_path.exists() and not force:
        log(f"teacher {task}: reusing {folder}")
        return json.loads(report_path.read_text(encoding="utf-8"))
    if folder.exists():
        shutil.rmtree(folder)
    scale = profile.scale(task)
    train = subset_file(
        task_file(glue, task, "train"),
        scale.teacher_rows,
        profile.seed,
        Path(cache) / profile.name / task / f"teacher_train_{scale.teacher_rows}.tsv",
    )
    dev = dev_file(cache, glue, profile, task)
    log(f"teacher {task}: fine-tuning {base_model or MINILM_PACKAGE} on {train.name}, {scale.teacher_epochs} epoch(s)")
    config = FinetuneConfig.from_settings(
        model=base_model or minilm_path(),
        epochs=scale.teacher_epochs,
        lr=scale.teacher_lr or profile.teacher_lr,
        **profile.training(task, train, dev, folder),
    )
    started = time.time()
    report = finetune(config)
    report["bench_seconds"] = time.time() - started
    report["base_model"] = Path(base_model).name if base_model else MINILM_PACKAGE
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return report


def dev_file(cache: str | Path, glue: str, profile: Profile, task: str) -> Path:
    """The dev set (or its seeded subset) that the teacher and every student are scored on; cached."""
    scale = profile.scale(task)
    return subset_file(
        task_file(glue, task, "dev"),
        scale.dev_rows,
        profile.seed,
        Path(cache) / profile.name / task / f"dev_{scale.dev_rows}.tsv",
    )


def teacher_label(report: dict[str, Any]) -> str:
    """The encoder the teacher was fine-tuned from and the teacher's shape, as its report recorded them."""
    name = report.get("base_model") or Path(str(report.get("model", "?"))).name
    return model_label(name, report.get("layers"), report.get("hidden"))


def train_rows(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip())


def run(
    profile: Profile, task: str, *, glue: str, cache: str, results: str, base_model: str | None, force: bool = False
) -> dict[str, Any]:
    set_threads(profile.threads)
    report = ensure_teacher(profile, task, glue=glue, cache=cache, base_model=base_model, force=force)
    scale = profile.scale(task)
    dev_metrics = report.get("dev") or {}
    data = {
        "experiment": "teacher",
        "task": task,
        "profile": profile.to_dict(),
        "base_model": teacher_label(report),
        "train_rows": report.get("train_rows"),
        "epochs": scale.teacher_epochs,
        "max_seq_len": scale.max_seq_len,
        "dev": dev_metrics,
        "params": report.get("params"),
        "seconds": report.get("bench_seconds", report.get("seconds")),
        "precision": (report.get("precision") or {}).get("precision"),  # what the fine-tune ran in
        "machine": machine(),
    }
    metric_cells = ", ".join(f"{k} {100 * v:.1f}" for k, v in dev_metrics.items())
    md = (
        f"### Teacher: {data['base_model']} fine-tuned on {task.upper()} (profile {profile.name})\n\n"
        + markdown_table(
            ["task", "train rows", "epochs", "max len", "precision", "dev", "fine-tune s"],
            [
                [
                    task,
                    data["train_rows"],
                    data["epochs"],
                    data["max_seq_len"],
                    data["precision"] or "-",
                    metric_cells,
                    fmt(data["seconds"], 0),
                ]
            ],
        )
    )
    write_result(results, f"teacher_{task}", data, md)
    log(f"teacher {task}: dev {metric_cells}")
    return data


def main() -> None:
    args, common = parse_task_command(
        __doc__,
        lambda p: p.add_argument("--force", action="store_true", help="retrain even if a cached teacher exists"),
    )
    run(get_profile(args.profile), args.task, force=args.force, **common)


if __name__ == "__main__":
    main()
