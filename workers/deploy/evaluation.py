"""`distillery evaluate`'s numbers: the task's metrics, rows/s over the file, and median latency per batch size.

Latency is measured on fixed batches (the file's first rows, repeated when it is short) after untimed warm-up
passes, so the first call's allocations and lazy initialisation do not count.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from shared.tasks import TaskPreset
from workers.deploy.inference import predict_logits, task_metrics
from workers.deploy.inputs import numpy_batch, pad_id
from workers.deploy.loading import LoadedModel
from workers.distill.data import Example


def evaluate(
    model: LoadedModel,
    examples: Sequence[Example],
    preset: TaskPreset,
    batch_size: int,
    on_progress: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Metrics on a labelled file and the throughput of the whole pass."""
    started = time.perf_counter()
    logits = predict_logits(model, examples, batch_size, on_progress)
    seconds = time.perf_counter() - started
    return {
        "metrics": task_metrics(logits, examples, preset),
        "rows": len(examples),
        "seconds": round(seconds, 4),
        "rows_per_s": round(len(examples) / max(seconds, 1e-9), 2),
    }


def median_latency_ms(
    model: LoadedModel, examples: Sequence[Example], batch_size: int, warmup: int, repeats: int
) -> float:
    """Median wall time of one forward pass over the file's first ``batch_size`` rows, in milliseconds."""
    rows = [examples[i % len(examples)] for i in range(batch_size)]
    batch = numpy_batch(rows, pad_id(model.tokenizer))
    for _ in range(warmup):
        model.predictor.logits(batch)
    times = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        model.predictor.logits(batch)
        times.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(times), 3)


def latencies(
    model: LoadedModel, examples: Sequence[Example], batch_sizes: Sequence[int], warmup: int, repeats: int
) -> dict[str, float]:
    """``{"batch_1": ms, "batch_32": ms}``: median latency at each batch size."""
    return {f"batch_{b}": median_latency_ms(model, examples, b, warmup, repeats) for b in batch_sizes}
