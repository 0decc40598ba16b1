"""The engine's progress callback for a job: throttled progress writes, events, and a metrics time series.

The training loops call back after every step; Redis gets at most one progress write (and one metrics
point, the mean of each loss since the previous point) every ``interval_s`` seconds, plus an immediate
write and an event at every stage change, evaluation and resume. A pipeline passes its own id as well, so
the pipeline's record mirrors the child that is training now.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from shared.job_store import JobStore
from workers.distill.progress import STAGE_EVALUATE, ProgressEvent


class JobProgress:
    """Callable ``ProgressCallback`` forwarding to the job store of ``job_ids`` (a child, then its pipeline)."""

    def __init__(
        self, store: JobStore, job_ids: Sequence[str], *, interval_s: float = 2.0, metrics_max: int = 20_000
    ) -> None:
        self.store = store
        self.job_ids = list(job_ids)
        self.source = self.job_ids[0]
        self.interval_s = interval_s
        self.metrics_max = metrics_max
        self.stage: str | None = None
        self.metrics: dict[str, float] | None = None
        self._window: dict[str, float] = {}
        self._window_n = 0
        self._last_flush = 0.0
        self._rate_mark: tuple[str, int, float] | None = None  # (stage, step, time) of the last write
        self._last_note = 0.0

    # --- the ProgressCallback ------------------------------------------------------------------------------

    def __call__(self, event: ProgressEvent) -> None:
        if event.message and event.message.startswith("warning"):  # e.g. no dev set for the teacher guard
            self.event("warning", event.message, stage=event.stage)
            return
        if event.stage == STAGE_EVALUATE and event.message and "teacher" in event.message:
            teacher = dict(event.metrics or {})  # the teacher's dev metrics, once, before training
            self.event("evaluation", f"teacher dev metrics: {_fmt(teacher)}", teacher=True, metrics=teacher)
            for job_id in self.job_ids:
                self.store.set_progress_extra(job_id, teacher_dev_metrics=teacher)
            return
        if event.message:
            kind = "resumed" if event.message.startswith("resumed") else "note"
            self.event(kind, f"{event.stage}: {event.message}", stage=event.stage, step=event.step)
        if event.stage == STAGE_EVALUATE:
            self.metrics = dict(event.metrics or {})
            self.event(
                "evaluation",
                f"dev metrics after epoch {event.epoch}: {_fmt(self.metrics)}",
                epoch=event.epoch,
                step=event.step,
                metrics=self.metrics,
            )
            self._write(event, stage=STAGE_EVALUATE, point=True)
            return
        for name, value in event.losses.items():
            self._window[name] = self._window.get(name, 0.0) + value
        self._window_n += 1 if event.losses else 0
        if event.stage != self.stage:
            self.event("stage", f"stage {event.stage} started", stage=event.stage)
            self.stage = event.stage
            self._write(event, stage=event.stage, point=bool(event.losses))
        elif time.monotonic() - self._last_flush >= self.interval_s or event.step == event.total_steps:
            self._write(event, stage=event.stage, point=True)

    # --- other notes from the worker ------------------------------------------------------------------------

    def event(self, kind: str, message: str, **data: Any) -> None:
        for job_id in self.job_ids:
            self.store.add_event(
                job_id, kind, message, **({"job": self.source} if job_id != self.source else {}), **data
            )

    def set_stage(self, stage: str, **fields: Any) -> None:
        """A stage without training steps (waiting for shards): throttled like steps, an event when new."""
        if stage != self.stage:
            self.event("stage", f"stage {stage} started", stage=stage)
            self.stage = stage
        elif time.monotonic() - self._last_note < self.interval_s:
            return
        self._last_note = time.monotonic()
        for job_id in self.job_ids:
            self.store.set_progress_extra(job_id, stage=stage, **fields)

    def shards_read(self, read: int, total: int) -> None:
        """An epoch of a distillation on an augmentation starts with ``read`` of its ``total`` shards."""
        self.event(
            "shards",
            f"training data: {read} of {total} augmented shards finished",
            shards_read=read,
            shards_total=total,
        )
        for job_id in self.job_ids:
            self.store.set_progress_extra(job_id, shards_done=read, shards_total=total)

    def finish(self, **fields: Any) -> None:
        """Final progress fields (the ETA is zero once a job is over)."""
        for job_id in self.job_ids:
            self.store.set_progress_extra(job_id, eta_s=0.0, **fields)

    # --- writing --------------------------------------------------------------------------------------------

    def _write(self, event: ProgressEvent, *, stage: str, point: bool) -> None:
        now = time.time()
        losses = {k: v / self._window_n for k, v in self._window.items()} if self._window_n else {}
        rate = eta = None
        if self._rate_mark and self._rate_mark[0] == event.stage and now > self._rate_mark[2]:
            rate = (event.step - self._rate_mark[1]) / (now - self._rate_mark[2])
            if rate > 0:
                eta = round(max(0, event.total_steps - event.step) / rate, 1)
        if stage != STAGE_EVALUATE and (self._rate_mark is None or self._rate_mark[0] != event.stage or rate):
            self._rate_mark = (event.stage, event.step, now)
        fields: dict[str, Any] = {
            "stage": stage,
            "epoch": event.epoch,
            "step": event.step,
            "total_steps": event.total_steps,
            "done": event.step,
            "total": event.total_steps,
            "unit": "steps",
            "samples_per_s": round(event.samples_per_s, 2) if event.samples_per_s else None,
            "dev_metrics": self.metrics,
        }
        if losses:
            fields["losses"] = {k: round(v, 6) for k, v in losses.items()}
        if rate is not None:
            fields["rate_per_s"] = round(rate, 3)
            fields["eta_s"] = eta
        point_doc = {
            "ts": round(now, 3),
            "job_id": self.source,
            "stage": stage,
            "epoch": event.epoch,
            "step": event.step,
            "total_steps": event.total_steps,
            "losses": fields.get("losses", {}),
            "samples_per_s": fields["samples_per_s"],
            "metrics": event.metrics if stage == STAGE_EVALUATE else None,
        }
        if point:
            self.store.append_metric(self.job_ids, point_doc, self.metrics_max)
        for job_id in self.job_ids:
            self.store.set_progress_extra(job_id, **fields)
        if point and stage != STAGE_EVALUATE:
            self._window, self._window_n = {}, 0
        self._last_flush = time.monotonic()


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()) or "none"
