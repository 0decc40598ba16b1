"""JobProgress on a real Redis: throttled progress writes, stage/evaluation/resume events, metric points,
mirrored into a second job (a pipeline)."""

from __future__ import annotations

import redis

from shared.job_store import JobStore
from workers.distill.job_progress import JobProgress
from workers.distill.progress import ProgressEvent


def test_progress_is_throttled_mirrored_and_recorded(redis_url) -> None:
    store = JobStore(redis.Redis.from_url(redis_url))
    child = store.create(job_type="distillation", team="t", params={}, unit="steps")
    pipe = store.create(job_type="pipeline", team="t", params={}, unit="steps")
    progress = JobProgress(store, [child, pipe], interval_s=3600)

    progress(ProgressEvent("evaluate", 0, 0, 0, metrics={"accuracy": 0.6}, message="teacher dev metrics"))
    for step in range(1, 6):
        progress(
            ProgressEvent("distill-intermediate", 1, step, 10, {"attention": float(step), "total": 2.0 * step}, 8.0)
        )
    progress(ProgressEvent("distill-intermediate", 1, 5, 10, message="resumed from checkpoint at step 5"))
    progress(ProgressEvent("distill-prediction", 1, 1, 4, {"prediction": 0.5, "total": 0.5}, 9.0))
    progress(ProgressEvent("evaluate", 1, 1, 4, metrics={"accuracy": 0.75}))

    for job_id in (child, pipe):
        p = store.get(job_id)["progress"]
        assert p["stage"] == "evaluate" and p["dev_metrics"] == {"accuracy": 0.75}
        assert p["teacher_dev_metrics"] == {"accuracy": 0.6}
        assert p["step"] == p["done"] == 1 and p["total_steps"] == p["total"] == 4 and p["unit"] == "steps"
        kinds = [e["kind"] for e in store.events(job_id)]
        assert kinds.count("stage") == 2 and kinds.count("evaluation") == 2 and "resumed" in kinds
    points = store.metrics(child)
    assert store.metrics(pipe) == points and {p["job_id"] for p in points} == {child}
    # interval 1h: a point at each stage start and evaluation only; the first one holds step 1's losses
    assert [p["stage"] for p in points] == ["distill-intermediate", "distill-prediction", "evaluate"]
    assert points[0]["losses"] == {"attention": 1.0, "total": 2.0} and points[2]["metrics"] == {"accuracy": 0.75}


def test_window_mean_of_losses_between_writes(redis_url) -> None:
    store = JobStore(redis.Redis.from_url(redis_url))
    job = store.create(job_type="finetune", team="t", params={}, unit="steps")
    progress = JobProgress(store, [job], interval_s=0.0)  # write at every step
    for step, loss in enumerate([4.0, 2.0], start=1):
        progress(ProgressEvent("finetune", 1, step, 2, {"loss": loss}, 5.0))
    points = store.metrics(job)
    assert [p["losses"]["loss"] for p in points] == [4.0, 2.0]
    assert store.get(job)["progress"]["losses"] == {"loss": 2.0}
