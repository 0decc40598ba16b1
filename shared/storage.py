"""Where artifacts live under DISTILLERY_DATA_DIR, and how they are written.

Layout (everything a job produces outlives RQ's result TTLs)::

    <data_dir>/datasets/<dataset_id>/data.<ext>     the upload, byte for byte
    <data_dir>/datasets/<dataset_id>/meta.json      its metadata (also in Redis)
    <data_dir>/jobs/<job_id>/shards/<k>.<ext>       shard k's output rows (no header)
    <data_dir>/jobs/<job_id>/result.<ext>           the merged result (header + shards in order)
    <data_dir>/uploads/                             uploads being received (renamed into place)
    <data_dir>/redis/                               the embedded Redis of `distillery up`

All writes go through a temp file in the target folder and a rename, so a reader (or a retried shard)
never sees half a file.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from shared.atomic import atomic_write
from shared.dataset_io import atomic_write_text

__all__ = ["DISK_FULL", "Storage", "atomic_concat", "atomic_write_text", "is_disk_full"]

#: What every "the disk is full" answer says (HTTP 507, or a job's error with code "disk_full").
DISK_FULL = "the data directory is full (no space left on device); nothing was stored. Free space and retry"


def is_disk_full(exc: BaseException) -> bool:
    """True for the write errors that mean no space (or no quota) is left, which a retry cannot fix."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class Storage:
    """Paths under one data dir; creating folders on demand."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).resolve()

    # --- datasets ---------------------------------------------------------------------------------
    def dataset_dir(self, dataset_id: str) -> Path:
        return self.root / "datasets" / dataset_id

    def dataset_file(self, dataset_id: str, fmt: str) -> Path:
        return self.dataset_dir(dataset_id) / f"data.{fmt}"

    def dataset_meta(self, dataset_id: str) -> Path:
        return self.dataset_dir(dataset_id) / "meta.json"

    def delete_dataset(self, dataset_id: str) -> None:
        shutil.rmtree(self.dataset_dir(dataset_id), ignore_errors=True)

    # --- jobs -------------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def shard_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "shards"

    def shard_file(self, job_id: str, shard: int, fmt: str) -> Path:
        return self.shard_dir(job_id) / f"{shard}.{fmt}"

    def result_file(self, job_id: str, fmt: str) -> Path:
        return self.job_dir(job_id) / f"result.{fmt}"

    def delete_job(self, job_id: str) -> None:
        """Remove a job's folder (shards, result, model, checkpoints); absent is fine."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    # --- scratch ----------------------------------------------------------------------------------
    def uploads_dir(self) -> Path:
        path = self.root / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def redis_dir(self) -> Path:
        path = self.root / "redis"
        path.mkdir(parents=True, exist_ok=True)
        return path


def atomic_concat(target: str | os.PathLike[str], head: bytes, parts: Iterable[str | os.PathLike[str]]) -> int:
    """Write ``head`` then every file of ``parts`` in order into ``target`` atomically; returns its size."""
    with atomic_write(target) as out:
        out.write(head)
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        return out.tell()
