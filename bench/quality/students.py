"""Experiments 2 and 3: students distilled from the teacher, with and without augmentation, against the
same student trained on the labels alone; dev metrics, parameters and CPU latency vs the teacher.

    .venv/bin/python -m bench.quality.students --profile cpu --task sst-2
    .venv/bin/python -m bench.quality.students --profile cpu --task mrpc

Students: TinyBERT4's shape (4 layers, hidden 312, 12 heads, FFN 1200, random init), and 3- and 2-layer
students initialised from the teacher's mapped layers (uniform map: layers 2, 4, 6 and 3, 6). Variants per
student: ``labels`` (fine-tuned on the gold labels, no teacher), ``distill`` (stage 1 + stage 2 on the
student subset), ``distill+aug`` (both stages on the augmented subset: GloVe + the masked LM).
Writes results/students_<task>.json and .md. The teacher, the subsets and the augmented file are cached.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.quality.common import (
    down2,
    load_classifier,
    log,
    machine,
    markdown_table,
    measure_latencies,
    minilm_path,
    model_label,
    parameter_counts,
    parse_task_command,
    set_threads,
    subset_file,
    task_file,
    write_result,
)
from bench.quality.general import cached_start, ensure_general
from bench.quality.profiles import Profile, get_profile
from bench.quality.teacher import dev_file, ensure_teacher, teacher_dir, teacher_label, train_rows

STUDENTS = {
    "tinybert4": {
        "label": "TinyBERT4 shape (4L, 312H, random init)",
        "layers": 4,
        "hidden": 312,
        "heads": 12,
        "intermediate": 1200,
        "init": "random",
    },
    "minilm3-tinit": {"label": "3L from teacher (teacher width, uniform map)", "layers": 3, "init": "teacher"},
    # Added after the first CPU run measured ~2.1x for the 3- and 4-layer students: 2 layers is the depth
    # that can reach the >= 3x target against a 6-layer teacher of the same width.
    "minilm2-tinit": {"label": "2L from teacher (teacher width, uniform map)", "layers": 2, "init": "teacher"},
    # For a teacher that is not MiniLM (cpu-base's MPNet-base): the pre-trained MiniLM-L6 encoder, 4 of its 6
    # layers kept, its WordPiece embeddings re-indexed to the teacher's tokenizer (checkpoint_adapt.py).
    "minilm4-pre": {
        "label": "4 of the pre-trained MiniLM-L6's layers (384H), its embeddings re-indexed to the teacher's tokens",
        "layers": 4,
        "init": "pretrained",
    },
    # The same with all 6 layers: more capacity for the MPNet teacher's students, which stopped at about 86 with
    # 4 layers (results/cpu-base-16k-pred-e4); its speed-up over the teacher is measured by shape_latency.py.
    "minilm6-pre": {
        "label": "the pre-trained MiniLM-L6's 6 layers (384H), its embeddings re-indexed to the teacher's tokens",
        "layers": 6,
        "init": "pretrained",
    },
}
VARIANTS = ("labels", "distill", "distill+aug")
#: Students that start from a general distillation (bench/quality/general.py): their shape there.
for _key, _shape, _label in (
    ("tinybert4-gd", "tinybert4", "TinyBERT4 shape (4L, 312H) from general distillation"),
    ("narrow4-gd", "narrow4x192", "4L, 192H, FFN 768 from general distillation"),
    ("mid4-gd", "mid4x240", "4L, 240H, FFN 960 from general distillation"),
):
    STUDENTS[_key] = {"label": _label, "init": "general", "general": _shape}
#: The general-distillation folders of this run, by student name (filled by ``run`` before training).
GENERAL_MODELS: dict[str, str] = {}


def student_spec(profile: Profile, name: str) -> Any:
    from workers.distill.models import StudentSpec

    s = STUDENTS[name]
    if s["init"] == "general":
        return StudentSpec(layers=4, checkpoint=GENERAL_MODELS[name])
    if s["init"] == "teacher":
        return StudentSpec(layers=s["layers"], init="teacher")
    if s["init"] == "pretrained":
        return StudentSpec(layers=s["layers"], checkpoint=minilm_path(), checkpoint_layers=s["layers"])
    return StudentSpec(*profile.fresh_shape(s["layers"], s["hidden"], s["heads"], s["intermediate"]))


def student_label(profile: Profile, name: str) -> str:
    """The student's label, with the profile's width note for a fresh shape (what actually ran)."""
    s = STUDENTS[name]
    return s["label"] + (profile.shape_note() if s["init"] in ("random", "general") else "")


def student_train_file(profile: Profile, task: str, *, glue: str | Path, cache: str | Path) -> Path:
    """The students' seeded subset of the task's training rows (cached; a GPU run finds the one made here)."""
    rows = profile.scale(task).student_rows
    path = Path(cache) / profile.name / task / f"student_train_{rows}.tsv"
    return subset_file(task_file(glue, task, "train"), rows, profile.seed + 1, path)


def ensure_augmented(profile: Profile, task: str, source: Path, *, cache: str, mlm_model: str) -> dict[str, Any]:
    """Augment the student subset once (N = profile.aug_n, real GloVe + the masked LM); cached with its stats."""
    from shared.dataset_io import read_table, resolve_spec, write_table
    from workers.augment.engine import AugmentParams, get_augmenter
    from workers.augment.mlm import resolve_device
    from workers.precision import resolve_precision

    n = profile.scale(task).aug_n
    params = AugmentParams.from_settings(
        n=n, seed=profile.seed, mlm_model=mlm_model, device=profile.device, precision=profile.augment_precision
    )
    precision = resolve_precision(params.precision, resolve_device(params.device))  # DISTILLERY_PRECISION
    tag = "_bf16" if precision.bf16 else ""  # fp32 keeps the name it always had
    target = Path(cache) / profile.name / task / f"aug_n{n}{tag}_{source.name}"
    meta_path = target.with_suffix(".json")
    if target.exists() and meta_path.exists():
        log(f"augment {task}: reusing {target}")
        return {**json.loads(meta_path.read_text(encoding="utf-8")), "path": str(target)}  # the cache may have moved
    log(f"augment {task}: {source.name} with N={params.n}, K={params.k}, p={params.p}, MLM {mlm_model}")
    started = time.time()
    table = read_table(source, task=task)
    spec = resolve_spec(table, task=task, name=str(source))
    augmenter = get_augmenter(params)
    rows = augmenter.augment_rows(table, spec)
    write_table(table.with_rows(rows), target)
    mlm_config = augmenter.mlm.model.config
    meta = {
        "path": str(target),
        "n": params.n,
        "k": params.k,
        "p": params.p,
        "mlm_model": mlm_model,
        "mlm_layers": mlm_config.num_hidden_layers,
        "mlm_hidden": mlm_config.hidden_size,
        "glove": params.glove,
        "glove_words": len(augmenter.glove),
        "glove_dim": augmenter.glove.dim,
        "stats": dict(augmenter.stats),
        "precision": augmenter.precision.model_dump(),
        "seconds": round(time.time() - started, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log(f"augment {task}: {meta['stats']} in {meta['seconds']} s")
    return meta


def labels_baseline(
    profile: Profile, task: str, name: str, train: Path, dev: Path, teacher: Path, folder: Path
) -> dict[str, Any]:
    """The same student (same shape and init) fine-tuned on the gold labels only."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from workers.distill.finetune import FinetuneConfig, finetune
    from workers.distill.layer_map import build_layer_map
    from workers.distill.models import build_student, load_tokenizer

    init_dir = folder / "init"
    teacher_model = AutoModelForSequenceClassification.from_pretrained(str(teacher))
    tokenizer = load_tokenizer(str(teacher))
    spec = student_spec(profile, name)
    layer_map = build_layer_map("uniform", spec.layers, teacher_model.config.num_hidden_layers)
    torch.manual_seed(profile.seed)
    student, _ = build_student(spec, teacher_model, tokenizer, layer_map)
    student.save_pretrained(init_dir)
    tokenizer.save_pretrained(init_dir)
    epochs = profile.baseline_epochs
    config = FinetuneConfig.from_settings(
        model=str(init_dir),
        epochs=epochs,
        lr=profile.baseline_lr,
        **profile.training(task, train, dev, folder / "model"),
    )
    report = finetune(config)
    return {
        "dev": report["dev"],
        "model": str(folder / "model"),
        "seconds": report["seconds"],
        "epochs": epochs,
        "train_rows": report["train_rows"],
        "precision": report["precision"]["precision"],
    }


def distilled(
    profile: Profile,
    task: str,
    name: str,
    train: Path,
    dev: Path,
    teacher: Path,
    folder: Path,
    *,
    stage1: int,
    stage2: int,
) -> dict[str, Any]:
    from workers.distill.losses import LossWeights
    from workers.distill.train import DistillConfig, distill

    config = DistillConfig.from_settings(
        loss_weights=LossWeights(*profile.loss_weights),
        teacher=str(teacher),
        student=student_spec(profile, name),
        stage1_epochs=stage1,
        stage2_epochs=stage2,
        lr1=profile.lr1,
        lr2=profile.lr2,
        checkpoint_every=10**9,
        allow_weak_teacher=True,  # the bench reports the teacher's own dev figures beside every student
        **profile.training(task, train, dev, folder / "model"),
    )
    report = distill(config)
    return {
        "dev": report["student"]["dev"],
        "teacher_dev": report["teacher"]["dev"],
        "model": str(folder / "model"),
        "seconds": report["seconds"],
        "epochs": [stage1, stage2],
        "train_rows": report["train_rows"],
        "precision": report["precision"]["precision"],
        "final_losses": {s["name"]: (s["loss_history"][-1] if s["loss_history"] else None) for s in report["stages"]},
    }


def run_variant(
    profile: Profile,
    task: str,
    name: str,
    variant: str,
    *,
    train: Path,
    aug: Path,
    dev: Path,
    teacher: Path,
    cache: str,
) -> dict[str, Any]:
    """One (student, variant) cell; its result is cached as result.json in its folder."""
    folder = Path(cache) / profile.name / task / "students" / f"{name}__{variant.replace('+', '_')}"
    done = folder / "result.json"
    if done.exists():
        log(f"{task} {name} {variant}: reusing {done}")
        return json.loads(done.read_text(encoding="utf-8"))
    log(f"{task} {name} {variant}: training")
    if variant == "labels":
        result = labels_baseline(profile, task, name, train, dev, teacher, folder)
    elif variant == "distill":
        result = distilled(
            profile, task, name, train, dev, teacher, folder, stage1=profile.stage1_epochs, stage2=profile.stage2_epochs
        )
    else:
        result = distilled(
            profile,
            task,
            name,
            aug,
            dev,
            teacher,
            folder,
            stage1=profile.aug_stage1_epochs,
            stage2=profile.aug_stage2_epochs,
        )
    folder.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"{task} {name} {variant}: dev {result['dev']} in {result['seconds']:.0f} s")
    return result


def latencies(profile: Profile, paths: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Parameters and median forward latency (batch 1 and 32, length 64) of each model, timed round-robin
    in one process so that the speed-ups over the teacher compare like with like."""
    models = {key: load_classifier(path) for key, path in paths.items()}
    set_threads(profile.latency_threads)
    out: dict[str, dict[str, Any]] = {key: {"params": parameter_counts(m)} for key, m in models.items()}
    for batch, repeats in ((1, profile.latency_repeats_b1), (32, profile.latency_repeats_b32)):
        medians = measure_latencies(models, batch=batch, seq_len=64, repeats=repeats, warmup=profile.latency_warmup)
        for key, seconds in medians.items():
            out[key][f"latency_b{batch}_ms"] = 1000 * seconds
    for key, entry in out.items():
        log(f"latency {key}: b1 {entry['latency_b1_ms']:.1f} ms, b32 {entry['latency_b32_ms']:.1f} ms")
    set_threads(profile.threads)
    return out


def training_precision_note(cells: Any) -> str:
    """What the students trained in, from their cells (cells cached before the field was recorded say nothing)."""
    seen = sorted({cell["precision"] for cell in cells if cell.get("precision")})
    return f" Students trained in {' and '.join(seen)}." if seen else ""


def main_metric(task: str) -> str:
    return "accuracy" if task == "sst-2" else "f1"


def run(
    profile: Profile,
    task: str,
    *,
    glue: str,
    cache: str,
    results: str,
    base_model: str | None,
    mlm_model: str,
    students: tuple[str, ...] = tuple(STUDENTS),
) -> dict[str, Any]:
    set_threads(profile.threads)
    teacher_report = ensure_teacher(profile, task, glue=glue, cache=cache, base_model=base_model)
    teacher = teacher_dir(cache, profile, task)
    train = student_train_file(profile, task, glue=glue, cache=cache)
    dev = dev_file(cache, glue, profile, task)
    aug_meta = ensure_augmented(profile, task, train, cache=cache, mlm_model=mlm_model)
    aug = Path(aug_meta["path"])
    general_runs = {}
    for name in students:
        if STUDENTS[name]["init"] == "general":
            meta = ensure_general(profile, STUDENTS[name]["general"], glue=glue, cache=cache, base_model=base_model)
            GENERAL_MODELS[name], general_runs[name] = meta["model"], meta

    cells: dict[str, dict[str, Any]] = {}
    for name in students:
        for variant in VARIANTS:
            cells[f"{name}/{variant}"] = run_variant(
                profile, task, name, variant, train=train, aug=aug, dev=dev, teacher=teacher, cache=cache
            )
    # Latency depends only on the architecture: one trained model per student shape, plus the teacher.
    lat = latencies(profile, {"teacher": teacher, **{n: Path(cells[f"{n}/distill"]["model"]) for n in students}})
    metric = main_metric(task)
    teacher_dev = teacher_report.get("dev") or {}
    data = {
        "experiment": "students",
        "task": task,
        "profile": profile.to_dict(),
        "teacher": {
            "label": teacher_label(teacher_report),
            "dev": teacher_dev,
            **lat["teacher"],
            "train_rows": teacher_report.get("train_rows"),
        },
        "student_train_rows": train_rows(train),
        "augmentation": aug_meta,
        "general": general_runs,
        "students": {n: {"label": student_label(profile, n), **lat[n]} for n in students},
        "cells": cells,
        "main_metric": metric,
        "machine": machine(),
    }
    data["markdown"] = render(data)
    write_result(results, f"students_{task}", data, data["markdown"])
    return data


def render(data: dict[str, Any]) -> str:
    task, metric = data["task"], data["main_metric"]
    teacher = data["teacher"]
    t_metric = teacher["dev"].get(metric)
    aug = data["augmentation"]
    rows = [
        [
            f"teacher: {teacher.get('label', '?')}, fine-tuned",
            "-",
            _metrics(teacher["dev"]),
            "100.0",
            f"{teacher['params']['total'] / 1e6:.1f}M / {teacher['params']['without_embeddings'] / 1e6:.1f}M",
            f"{teacher['latency_b1_ms']:.1f} (1.0x)",
            f"{teacher['latency_b32_ms']:.0f} (1.0x)",
        ]
    ]
    for name, info in data["students"].items():
        for variant in VARIANTS:
            cell = data["cells"][f"{name}/{variant}"]
            kept = 100 * cell["dev"].get(metric, 0) / t_metric if t_metric else None
            rows.append(
                [
                    info["label"],
                    variant,
                    _metrics(cell["dev"]),
                    "-" if kept is None else down2(kept),
                    f"{info['params']['total'] / 1e6:.1f}M / {info['params']['without_embeddings'] / 1e6:.1f}M",
                    f"{info['latency_b1_ms']:.1f} ({down2(teacher['latency_b1_ms'] / info['latency_b1_ms'])}x)",
                    f"{info['latency_b32_ms']:.0f} ({down2(teacher['latency_b32_ms'] / info['latency_b32_ms'])}x)",
                ]
            )
    p = data["profile"]
    scale = p["sst2"] if task == "sst-2" else p["mrpc"]
    head = (
        f"### {task.upper()}: teacher vs students (profile {p['name']})\n\n"
        f"Teacher trained on {teacher['train_rows']} rows; students on {data['student_train_rows']} rows "
        f"(distill: stage 1 {p['stage1_epochs']} + stage 2 {p['stage2_epochs']} epochs; labels: "
        f"{p['baseline_epochs']} epochs); distill+aug: {aug['stats']['rows_out']} rows (N={aug['n']}, "
        f"K={aug['k']}, p={aug['p']}, {augmentation_sources(aug)}), stage 1 "
        f"{p['aug_stage1_epochs']} + stage 2 {p['aug_stage2_epochs']} epochs. Dev: full "
        f"{'set' if scale['dev_rows'] is None else str(scale['dev_rows']) + ' rows'}, max length "
        f"{scale['max_seq_len']}. Latency: fp32 CPU forward, length 64, {p['latency_threads']} torch thread(s), "
        f"median of {p['latency_repeats_b1']} (batch 1) / {p['latency_repeats_b32']} (batch 32) runs after "
        f"{p['latency_warmup']} warm-up; speed-up over the teacher in brackets."
        + training_precision_note(data["cells"].values())
        + loss_weights_note(p.get("loss_weights"))
        + general_note(data.get("general") or {})
        + "\n\n"
    )
    return head + markdown_table(
        [
            "model",
            "trained by",
            "dev",
            f"% of teacher {metric}",
            "params total / w/o emb.",
            "ms batch 1",
            "ms batch 32",
        ],
        rows,
    )


def loss_weights_note(weights: Any) -> str:
    """Said when the distillation losses were not weighted 1 each (the paper's), e.g. an ablation."""
    if not weights or list(weights) == [1.0, 1.0, 1.0, 1.0]:
        return ""
    named = ", ".join(f"{n} {w:g}" for n, w in zip(("embedding", "attention", "hidden", "prediction"), weights))
    return f" Distillation loss weights: {named}."


def general_note(runs: dict[str, Any]) -> str:
    """What the students marked 'from general distillation' started from (bench/quality/general.py)."""
    if not runs:
        return ""
    some = next(iter(runs.values()))
    starts = sorted({cached_start(m) for m in runs.values()})
    start = {
        "pruned": "the teacher's mapped layers cut to the student's widths by measured usage (pruned)",
        "random": "random weights (the paper's recipe)",
    }
    return (
        f" Students 'from general distillation' start from the pre-trained {some['teacher']} distilled on "
        f"{some['corpus']['passages']:,} unlabelled train sentences of SST-2, MRPC, RTE and STS-B for "
        f"{some['epochs']} epoch(s), the student itself starting from {' or '.join(start.get(s, s) for s in starts)}"
        " (times: general.md)."
    )


def augmentation_sources(aug: dict[str, Any]) -> str:
    """The GloVe vectors and the masked LM the augmentation used, as its metadata recorded them."""
    glove = f"GloVe `{aug['glove']}`"
    if aug.get("glove_words"):
        glove += f" ({aug['glove_words']:,} words, {aug['glove_dim']}d)"
    mlm = model_label(f"`{Path(aug['mlm_model']).name}`", aug.get("mlm_layers"), aug.get("mlm_hidden"))
    return f"{glove} + masked LM {mlm}"


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {100 * v:.1f}" for k, v in metrics.items())


def main() -> None:
    args, common = parse_task_command(
        __doc__,
        lambda p: p.add_argument("--students", default=",".join(STUDENTS), help=f"comma list of {', '.join(STUDENTS)}"),
    )
    run(
        get_profile(args.profile),
        args.task,
        mlm_model=args.mlm_model,
        students=tuple(args.students.split(",")),
        **common,
    )


if __name__ == "__main__":
    main()
