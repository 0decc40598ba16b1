"""How much faster than the teacher is a student of each depth, before training one? Issue 18's speed bar is
>= 7x the MPNet-base teacher's batch-32 CPU throughput; a 4-layer MiniLM student measured about 10.9x in the
cpu-base runs, but stopped at about 86% SST-2 dev accuracy. This times the pre-trained MiniLM-L6 cut to each
depth asked for (its first layers; the latency does not depend on which) against the teacher, with the quality
bench's protocol: one process, models timed round-robin, batch 1 and 32 at length 64, one thread, fp32.

    .venv/bin/python -m bench.quality.shape_latency --teacher all-mpnet-base-v2 --layers 4,5,6
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.quality.common import measure_latencies, minilm_path, parameter_counts, set_threads
from bench.quality.profiles import CPU_BASE
from bench.record import recorded


def classifiers(teacher: Path, layers: list[int]) -> dict[str, Any]:
    """The teacher and one MiniLM classifier per depth (random heads: only their speed is measured)."""
    import transformers
    from transformers import AutoModelForSequenceClassification

    transformers.logging.set_verbosity_error()  # each random head's "newly initialized" report: expected here
    transformers.utils.logging.disable_progress_bar()
    models = {"teacher": AutoModelForSequenceClassification.from_pretrained(str(teacher), num_labels=2)}
    for n in layers:
        models[f"minilm{n}"] = AutoModelForSequenceClassification.from_pretrained(
            minilm_path(), num_labels=2, num_hidden_layers=n
        )
    return models


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="all-mpnet-base-v2", help="a model folder, or the cached base teacher's name")
    p.add_argument("--layers", default="4,5,6", help="comma list of student depths (1-6, MiniLM-L6's layers)")
    p.add_argument("--repeats", type=int, default=CPU_BASE.latency_repeats_b32, help="timed passes per batch size")
    args = p.parse_args(argv)
    layers = [int(n) for n in args.layers.split(",")]
    with recorded("shape_latency"):
        from bench.base_teacher import ensure

        teacher = Path(args.teacher) if Path(args.teacher).is_dir() else ensure(args.teacher)
        models = classifiers(teacher, layers)
        set_threads(CPU_BASE.latency_threads)
        ms = {
            batch: measure_latencies(
                models, batch=batch, seq_len=64, repeats=args.repeats, warmup=CPU_BASE.latency_warmup
            )
            for batch in (1, 32)
        }
        print(f"teacher {teacher.name}; {CPU_BASE.latency_threads} thread(s), length 64, {args.repeats} passes, fp32")
        print("| model | layers | params | b1 ms | b32 ms | b32 speed-up |")
        print("| --- | --- | --- | --- | --- | --- |")
        for key, model in models.items():
            depth = model.config.num_hidden_layers
            speed = ms[32]["teacher"] / ms[32][key]
            params = parameter_counts(model)["total"] / 1e6
            row = f"| {key} | {depth} | {params:.1f} M | {1000 * ms[1][key]:.1f} | {1000 * ms[32][key]:.1f} |"
            print(f"{row} {speed:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
