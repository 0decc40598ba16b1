"""Training data that is still being produced: an augmentation job's shards, read as they finish.

The distillation engine accepts a callable train source that it calls at the start of every epoch (and
calls ``prepare_epoch`` on, when present). ``ShardFeed`` is that source for an augmentation job:

- a call returns the shards finished *now* (waiting only until the first one exists), so stage 1 starts
  while the augmentation is still running and each later epoch picks up the shards that landed since;
- ``prepare_epoch`` waits for *every* shard before the last stage-1 epoch and before every stage-2 epoch,
  so the student's final passes (and its teacher-logit cache) cover the whole augmented set;
- a failed or cancelled augmentation raises ``AugmentationFailed`` carrying its error (the worker turns it
  into the distillation's error object), and the distillation's own cancel flag is checked while waiting;
- so does an expired or deleted one, even with every shard counted done: retention removed its shard files
  (its ``shards_done`` set outlives them), and reading them would fail with a FileNotFoundError that RQ retries
  for nothing. A shard file missing when it is copied raises the same.

Shard files hold rows without a header (they are concatenated by the merge), so each finished shard is
copied once, with the dataset's header, into the distillation's folder before the engine reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.dataset_io import atomic_write_text, format_header, read_table
from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.job_types import JobType, Stage
from shared.storage import Storage
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.progress import STAGE_INTERMEDIATE


class AugmentationFailed(DistillError):
    """The augmentation feeding a distillation failed, was cancelled, expired or was deleted; the message carries
    its cause."""

    code = "augmentation_failed"


#: Statuses after which an augmentation's shard files are removed (``shared.retention``); a missing record too.
_GONE_STATUSES = ("expired",)


def _gone_message(aug_id: str, status: str | None) -> str:
    """Why a gone augmentation's shards cannot be read (status None: its record is deleted)."""
    what = "is gone (deleted)" if status is None else status
    return f"augmentation job {aug_id} {what}: retention removed its shards"


class ShardFeed:
    """A callable train source over an augmentation job's finished shard files."""

    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        augmentation_job_id: str,
        out_dir: Path,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        poll_s: float = 0.5,
        on_wait: Callable[[dict[str, Any]], None] | None = None,
        on_read: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.aug_id = augmentation_job_id
        self.out_dir = Path(out_dir)
        self.should_stop = should_stop
        self.poll_s = poll_s
        self.on_wait = on_wait
        self.on_read = on_read  # (shards read now, shards in all): reported when the count changes
        self._last_read = 0
        rec = store.raw(augmentation_job_id)
        if rec is None:
            raise AugmentationFailed(_gone_message(augmentation_job_id, None))
        if rec["type"] != JobType.AUGMENTATION:
            raise DistillError(f"augmentation job {augmentation_job_id!r} not found")
        if rec["status"] in _GONE_STATUSES:
            raise AugmentationFailed(_gone_message(augmentation_job_id, rec["status"]))
        self.shards_total = rec["shards_total"]
        dataset = DatasetStore(store.r).get(rec["params"]["dataset_id"])
        if dataset is None:
            raise DistillError(f"the dataset of augmentation job {augmentation_job_id!r} is gone")
        self.format = dataset["format"]
        source = storage.dataset_file(dataset["id"], self.format)
        self.header = format_header(read_table(source, self.format, task=dataset.get("task")))
        self.complete = False
        self.__name__ = f"shards of augmentation job {augmentation_job_id}"  # how report.json names the source

    def __deepcopy__(self, memo: dict[int, Any]) -> ShardFeed:
        """The engine's report copies its config (dataclasses.asdict); a live feed is shared, not copied."""
        return self

    # --- the train-source protocol of workers.distill.train ---------------------------------------------

    def __call__(self) -> list[Path]:
        """The finished shards now (at least one: waits for the first)."""
        self._wait(lambda done: len(done) >= 1, "the first augmented shard")
        files = self._materialise(self._finished())
        if self.on_read is not None and len(files) != self._last_read:
            self.on_read(len(files), self.shards_total)
        self._last_read = len(files)
        return files

    def prepare_epoch(self, stage: str, epoch: int, epochs: int) -> None:
        """Before the last stage-1 epoch and every later one, wait until every shard exists."""
        if stage != STAGE_INTERMEDIATE or epoch >= epochs - 1:
            self.wait_all()

    # --- helpers -----------------------------------------------------------------------------------------

    def wait_all(self) -> None:
        self._wait(lambda done: len(done) >= self.shards_total, "every augmented shard")
        self.complete = True

    def _finished(self) -> list[int]:
        return sorted(k for k in self.store.shards_finished(self.aug_id) if k < self.shards_total)

    def _check_present(self) -> dict[str, Any]:
        """The augmentation's record; AugmentationFailed when it expired or was deleted. Checked even when its
        shards are counted done, since ``shards_done`` outlives the files that retention removed."""
        rec = self.store.raw(self.aug_id)
        if rec is None or rec["status"] in _GONE_STATUSES:
            raise AugmentationFailed(_gone_message(self.aug_id, None if rec is None else rec["status"]))
        return rec

    def _check_alive(self, rec: dict[str, Any]) -> None:
        """AugmentationFailed when the augmentation failed or was cancelled (checked while waiting for shards)."""
        if rec["status"] in ("failed", "cancelled"):
            cause = (rec.get("error") or {}).get("message") or "no error recorded"
            code = (rec.get("error") or {}).get("code")
            raise AugmentationFailed(
                f"augmentation job {self.aug_id} {rec['status']}"
                + (f" ({code}: {cause})" if rec["status"] == "failed" else "")
            )

    def _wait(self, ready: Callable[[list[int]], bool], what: str) -> None:
        if self.complete:
            return
        while True:
            if self.should_stop():
                raise TrainingCancelled(Stage.AUGMENT, 0)
            rec = self._check_present()
            done = self._finished()
            if ready(done):
                if len(done) >= self.shards_total:
                    self.complete = True
                return
            self._check_alive(rec)
            if self.on_wait is not None:
                self.on_wait(
                    {
                        "waiting_for": what,
                        "augmentation_job_id": self.aug_id,
                        "shards_done": len(done),
                        "shards_total": self.shards_total,
                        "augment_done": rec.get("done", 0),
                        "augment_total": rec.get("total", 0),
                    }
                )
            time.sleep(self.poll_s)

    def _materialise(self, shards: list[int]) -> list[Path]:
        """Headed copies of the finished shards (written once each, atomically), in shard order."""
        paths = []
        for k in shards:
            target = self.out_dir / f"shard-{k:05d}.{self.format}"
            if not target.exists():
                try:
                    rows = self.storage.shard_file(self.aug_id, k, self.format).read_text(encoding="utf-8")
                except FileNotFoundError:  # removed after _wait saw it counted: the same failure, said clearly
                    self._check_present()
                    raise AugmentationFailed(
                        f"shard {k} of augmentation job {self.aug_id} is missing: retention removed its shards"
                    ) from None
                atomic_write_text(target, [self.header, rows])
            paths.append(target)
        return paths
