"""Prediction jobs: a finished fine-tune's teacher or distillation's (pipeline's) student run over a dataset.

``submit_prediction`` checks the request (the job and the dataset must be the team's, the job must have
succeeded and have the asked-for form of its model) and queues ``run_prediction`` on the distill queue,
whose result is the prediction file (input columns + ``prediction`` + ``prob_<class>``, input's format).
Importing this module imports no torch (the API does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from shared.job_store import JobStore
from shared.job_types import JobType
from shared.prediction_params import PredictionJobParams, PredictionRequest
from shared.settings import Settings
from shared.storage import Storage
from workers.distill.jobs import EXPORT_DIR, _dataset_file, _store, enqueue_on_distill_queue
from workers.distill.jobs import _execute as execute_job
from workers.orchestration.errors import InvalidRequest, NotFound, OrchestrationError
from workers.orchestration.quotas import check_stored, limits_of
from workers.orchestration.references import find_dataset
from workers.orchestration.submit import Submission, create_job, queue_or_fail

#: Job types whose result is a model folder.
MODEL_JOBS = (JobType.FINETUNE, JobType.DISTILLATION, JobType.PIPELINE)
#: Each form's file in the job's export folder (the PyTorch form is the model folder itself).
FORM_FILES = {"pytorch": None, "onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
KIND = "prediction"


class NotFinished(OrchestrationError):
    """The job whose model should run has not succeeded (yet); the API answers 409."""


def _model_path(storage: Storage, job: dict[str, Any], form: str) -> str:
    """The form's folder or file, relative to the data dir; InvalidRequest when the job did not keep it."""
    model_dir = (job.get("result") or {}).get("model_dir")
    if not model_dir:
        raise InvalidRequest(f"job {job['id']!r} has no model folder in its result")
    file = FORM_FILES[form]
    relative = Path(model_dir) if file is None else Path(model_dir).parent / EXPORT_DIR / file
    if not (storage.root / relative).exists():
        hint = " (it ran with export: false, or its export failed)" if file else ""
        raise InvalidRequest(f"field 'form': job {job['id']!r} has no {form} model{hint}")
    return relative.as_posix()


def source_max_seq_len(job: dict[str, Any]) -> int | None:
    """The token budget the job's model was trained with (a pipeline's: its distillation's); None if unrecorded."""
    params = job.get("params") or {}
    if job.get("type") == JobType.PIPELINE:
        params = params.get("distill") or {}
    value = params.get("max_seq_len")
    return value if isinstance(value, int) and value > 0 else None


def check_text_columns(task: str | None, text_columns: list[str], what: str) -> None:
    """A known task's model reads as many text columns as the task has (a pair model on one column is refused)."""
    from shared.tasks import UnknownTaskError, get_task

    if not task:
        return
    try:
        preset = get_task(task)
    except UnknownTaskError:
        return
    if len(text_columns) != len(preset.text_columns):
        raise InvalidRequest(
            f"{what} has {len(text_columns)} text column(s) {list(text_columns)} but the model's task "
            f"{preset.name} reads {len(preset.text_columns)} {list(preset.text_columns)}"
        )


def submit_prediction(sub: Submission, source_id: str, body: PredictionRequest) -> str:
    """Create and queue the prediction job; NotFound (404), NotFinished (409), InvalidRequest (422)."""
    source = sub.jobs.get(source_id, sub.team)
    if source is None:
        raise NotFound(f"job {source_id!r} not found")
    if source["type"] not in MODEL_JOBS:
        raise InvalidRequest(
            f"job {source_id!r} is a {source['type']} job; only a fine-tune, distillation or pipeline has a model"
        )
    if source["status"] != "succeeded":
        raise NotFinished(f"job {source_id!r} is {source['status']}; predictions need a job that has succeeded")
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, "dataset_id")
    task = (source.get("params") or {}).get("task")
    check_text_columns(task, dataset.get("text_columns") or [], f"field 'dataset_id': dataset {dataset['id']!r}")
    storage = Storage(sub.settings.data_dir)
    params = PredictionJobParams.resolve(
        sub.settings,
        source_job_id=source_id,
        dataset_id=dataset["id"],
        form=body.form,
        model_path=_model_path(storage, source, body.form),
        task=task,
        batch_size=body.batch_size,
        max_seq_len=body.max_seq_len or source_max_seq_len(source),
    )

    check_stored(sub.jobs, limits_of(sub.settings, sub.team), sub.team)  # counted like every other job
    job_id = create_job(
        sub, JobType.PREDICTION, params, total=dataset["rows"], unit="rows", dataset_ids=[dataset["id"]]
    )
    queue_or_fail(
        sub,
        job_id,
        lambda: enqueue_prediction(sub.conn, sub.settings, job_id),
        "the job",
        "queued on the distill queue",
    )
    return job_id


def enqueue_prediction(connection: redis.Redis, settings: Settings, job_id: str) -> str:
    """On the distill queue like a distillation (the same worker loads models), but without retries."""
    return enqueue_on_distill_queue(connection, settings, run_prediction, job_id, KIND, retries=0)


# --- in the worker -------------------------------------------------------------------------------------------


def run_prediction(job_id: str) -> dict[str, Any]:
    """RQ entry point: predict the dataset; result = the prediction file (download at /v1/jobs/{id}/result)."""
    store = _store()
    return execute_job(store, job_id, lambda rec: _predict(store, rec))


def _predict(store: JobStore, rec: dict[str, Any]) -> dict[str, Any]:
    """The job body; a bad model (a DeployError naming the file) fails the job like any user error."""
    from workers.deploy.errors import DeployError
    from workers.distill.errors import DistillError

    try:
        return _predict_file(store, rec)
    except DeployError as exc:
        raise DistillError(str(exc)) from None


def _progress(store: JobStore, job_id: str, check_every_s: float | None = None) -> Callable[[int], None]:
    """Count predicted rows; stop at a batch once the job is cancelled, asking Redis at most every
    ``check_every_s`` (default: cancel_check_s) like the training and augmentation loops."""
    from shared.settings import get_settings
    from workers.cancel_check import throttled
    from workers.distill.errors import TrainingCancelled

    interval = get_settings().cancel_check_s if check_every_s is None else check_every_s
    should_stop = throttled(lambda: store.should_stop(job_id), interval)

    def on_rows(n: int) -> None:
        done = store.add_progress(job_id, n)
        if should_stop():
            raise TrainingCancelled("predict", done)

    return on_rows


def _predict_file(store: JobStore, rec: dict[str, Any]) -> dict[str, Any]:
    from shared.dataset_io import read_table, resolve_spec, write_table
    from shared.settings import get_settings
    from shared.tasks import get_task
    from workers.deploy.inputs import max_seq_len_for
    from workers.deploy.loading import load_model
    from workers.deploy.predictions import predict_table
    from workers.distill.errors import DistillError

    job_id, p = rec["id"], PredictionJobParams.model_validate(rec["params"])
    storage = Storage(get_settings().data_dir)
    path, doc = _dataset_file(store, p.dataset_id)
    table = read_table(path, doc["format"], task=doc.get("task"))
    spec = resolve_spec(table, text_columns=doc["text_columns"], label_column="", name=doc.get("name"))
    try:
        check_text_columns(p.task, list(spec.text_columns), f"dataset {p.dataset_id!r}")
    except InvalidRequest as exc:
        raise DistillError(str(exc)) from None
    model = load_model(storage.root / p.model_path)
    preset = get_task(p.task) if p.task else None
    length = max_seq_len_for(preset, len(spec.text_columns) == 2, p.max_seq_len, model.config)
    store.reset_shard(job_id, 0)
    out, truncated = predict_table(model, table, spec, p.batch_size, length, _progress(store, job_id))
    target = storage.job_dir(job_id) / f"predictions.{doc['format']}"
    write_table(out, target)
    return {
        "file": str(target.relative_to(storage.root)),
        "format": doc["format"],
        "rows": len(out.rows),
        "max_seq_len": length,
        "truncated_rows": truncated,
        "columns": out.columns,
        "bytes": target.stat().st_size,
        "download": f"/v1/jobs/{job_id}/result",
        "source_job_id": p.source_job_id,
        "form": p.form,
        "runtime": model.kind,
    }
