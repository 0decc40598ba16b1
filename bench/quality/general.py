"""Experiment step: general distillation (TinyBERT's first stage) of the pre-trained encoder the teacher is
fine-tuned from, into the student shapes that start from it; cached like the teacher, as its own step, so its
time is reported apart from the rest of the CPU profile.

    .venv/bin/python -m bench.quality.general --profile cpu     # before bench.quality.run, or let run call it

Corpus: bench/general_corpus.py's train sentences of SST-2, MRPC, RTE and STS-B (never dev), a seeded
``profile.general_corpus_rows`` subset. Writes cache/<profile>/general/<shape>/{model/, general.json}
(shape, corpus passages and tokens, epochs, seconds) and results/general.json + .md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.general_corpus import write_corpus
from bench.quality.common import (
    MINILM_PACKAGE,
    add_common_args,
    log,
    markdown_table,
    minilm_path,
    results_dir,
    set_threads,
    write_result,
)
from bench.quality.profiles import Profile, get_profile

#: Student shapes distilled in general: (layers, hidden, heads, FFN); heads equal the teacher's 12.
SHAPES = {
    "tinybert4": (4, 312, 12, 1200),  # TinyBERT4
    "narrow4x192": (4, 192, 12, 768),  # narrower: for >= 4x the 6x384 teacher's speed (to be measured)
    # Between the two: 3.75x the MiniLM teacher at batch 32 in fp32 (1 thread, AVX-512 EPYC, 2026-11-30;
    # TinyBERT4 2.37x, 4L/192H 5.51x in the same run), so >= 3x with a margin.
    "mid4x240": (4, 240, 12, 960),
}


def general_dir(cache: str | Path, profile: Profile, shape: str) -> Path:
    return Path(cache) / profile.name / "general" / shape


def corpus_file(profile: Profile, *, glue: str, cache: str) -> Path:
    """The whole offline corpus once, then the profile's seeded subset of its lines (all when None)."""
    import random

    full = Path(cache) / "general_corpus.txt"
    if not full.exists():
        write_corpus(Path(glue), full)
    rows = profile.general_corpus_rows
    if rows is None:
        return full
    target = Path(cache) / profile.name / "general" / f"corpus_{rows}.txt"
    if not target.exists():
        lines = full.read_text(encoding="utf-8").splitlines()
        picked = sorted(random.Random(profile.seed).sample(range(len(lines)), min(rows, len(lines))))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines[i] + "\n" for i in picked), encoding="utf-8")
    return target


def cached_start(meta: dict[str, Any], which: str = "used") -> str:
    """The start (``asked`` or ``used``) a cached general distillation recorded; runs cached before the start was
    recorded began from random weights, the only start there was."""
    return str(meta.get("init", {}).get(which, "random"))


def ensure_general(profile: Profile, shape: str, *, glue: str, cache: str, base_model: str | None) -> dict[str, Any]:
    """Distil (or reuse) the general student of ``shape``; returns its metadata (model folder included)."""
    from workers.distill.general import GeneralDistillConfig, general_distill
    from workers.distill.models import StudentSpec

    folder = general_dir(cache, profile, shape)
    meta_path = folder / "general.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if cached_start(meta, "asked") == profile.general_init:
            log(f"general {shape}: reusing {folder}")
            return meta
        log(f"general {shape}: the cached run started {meta.get('init')}, not {profile.general_init}: redoing it")
    corpus = corpus_file(profile, glue=glue, cache=cache)
    teacher = base_model or minilm_path()
    teacher_name = Path(base_model).name if base_model else MINILM_PACKAGE  # the package's folder is "model"
    log(f"general {shape}: distilling {teacher_name} on {corpus.name}, {profile.general_epochs} epoch(s)")
    config = GeneralDistillConfig.from_settings(
        teacher=teacher,
        corpus=[corpus],
        output_dir=folder / "model",
        student=StudentSpec(*profile.fresh_shape(*SHAPES[shape]), init=profile.general_init),
        epochs=profile.general_epochs,
        batch_size=profile.batch_size,
        max_seq_len=profile.general_max_seq_len,
        seed=profile.seed,
        device=profile.device,
        checkpoint_every=10**9,
    )
    started = time.time()
    report = general_distill(config)
    meta = {
        "shape": shape,
        "student": report["student"],
        "init": report["student"]["init"],
        "teacher": teacher_name,
        "corpus": {k: report["corpus"][k] for k in ("passages", "tokens")},
        "epochs": profile.general_epochs,
        "max_seq_len": profile.general_max_seq_len,
        "final_losses": report["stages"][0]["loss_history"][-1] if report["stages"][0]["loss_history"] else None,
        "seconds": round(time.time() - started, 1),
        "model": str(folder / "model"),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log(f"general {shape}: {meta['corpus']['passages']} passages in {meta['seconds']:.0f} s")
    return meta


def run(
    profile: Profile,
    *,
    glue: str,
    cache: str,
    results: str,
    base_model: str | None,
    shapes: Sequence[str] = tuple(SHAPES),
) -> dict[str, Any]:
    """General distillation of ``shapes`` (default: every shape), each cached; writes general.json/.md."""
    set_threads(profile.threads)
    runs = {shape: ensure_general(profile, shape, glue=glue, cache=cache, base_model=base_model) for shape in shapes}
    rows = [
        [
            shape,
            f"{m['student']['layers']}L / {m['student']['hidden']}H / FFN {m['student']['intermediate']}",
            cached_start(m),
            f"{m['corpus']['passages']:,} passages, {m['corpus']['tokens']:,} tokens",
            str(m["epochs"]),
            f"{m['seconds'] / 60:.1f}",
        ]
        for shape, m in runs.items()
    ]
    markdown = f"### General distillation (profile {profile.name})\n\n" + markdown_table(
        ["shape", "student", "start", "corpus", "epochs", "minutes"], rows
    )
    data = {"experiment": "general", "profile": profile.to_dict(), "runs": runs, "markdown": markdown}
    write_result(results, "general", data, markdown)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    args = parser.parse_args()
    run(
        get_profile(args.profile),
        glue=args.glue,
        cache=args.cache,
        results=results_dir(args),
        base_model=args.base_model,
    )


if __name__ == "__main__":
    main()
