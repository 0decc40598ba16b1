"""Job orchestration without HTTP: domain errors, and a job that cannot be queued is failed, not left queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.schemas import AugmentationRequest, DistillationRequest, JobRef, TrainFromDataset
from shared.settings import Settings
from workers.orchestration.errors import InvalidRequest, NotFound, QueueUnavailable
from workers.orchestration.submit import Submission, submit_augmentation, submit_distillation


def _submission(redis_url: str, queue_conn: redis.Redis | None = None, **settings: Any) -> Submission:
    conn = redis.Redis.from_url(redis_url)
    datasets = DatasetStore(conn)
    datasets.add("a", {"id": "ds_1", "rows": 3, "format": "tsv", "task": "rte", "text_columns": ["s1", "s2"]})
    return Submission("a", Settings(**settings), queue_conn or conn, datasets, JobStore(conn))


def test_bad_references_are_domain_errors_naming_the_field(redis_url: str) -> None:
    sub = _submission(redis_url)
    with pytest.raises(NotFound, match="field 'dataset_id'"):
        submit_augmentation(sub, AugmentationRequest(dataset_id="ds_nope"))
    body = DistillationRequest(teacher=JobRef(job_id="job_nope"), train=TrainFromDataset(dataset_id="ds_1"))
    with pytest.raises(NotFound, match="field 'teacher.job_id'"):
        submit_distillation(sub, body)
    with pytest.raises(InvalidRequest, match="field 'task'"):
        submit_distillation(sub, body.model_copy(update={"teacher": "t", "task": "sst-3"}))
    assert sub.jobs.list("a")[1] == 0


def test_a_job_that_cannot_be_queued_is_failed(redis_url: str, tiny_mlm_dir: Path) -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    sub = _submission(redis_url, queue_conn=unreachable, model_roots=str(tiny_mlm_dir.parent))
    with pytest.raises(QueueUnavailable, match="could not queue job"):
        submit_augmentation(sub, AugmentationRequest(dataset_id="ds_1", mlm_model=str(tiny_mlm_dir)))
    (job,), _ = sub.jobs.list("a")
    assert job["status"] == "failed" and job["error"]["code"] == "enqueue_failed"
