"""RQ entry points of the `distill` queue: fine-tune, distillation and pipeline jobs.

RQ only executes; every fact about a job goes to the JobStore. The API enqueues with the ``enqueue_*``
functions (this module imports no torch at import time); a worker runs one job at a time, on CUDA (bf16)
when present, else the CPU.

Layout of a job's folder (``Storage.job_dir``): ``model/`` (save_pretrained files, tokenizer, report.json),
``onnx/`` (a distillation's ONNX fp32 + int8 exports, unless ``export: false``),
``model.tar.gz`` (the result download), ``checkpoint.pt`` (the latest checkpoint; kept after training, deleted
once the job is marked succeeded, so a retry after a failed export or packing skips the training),
``train/`` (headed copies of the augmentation shards it read).

Failure policy: errors the user can fix (bad teacher, bad data, failed augmentation) fail the job at once
with an error object. Anything else, and a worker that died (see ``workers.rq_worker``), goes back to RQ
with ``Retry(settings.distill_retries)``; the retry resumes from the last checkpoint and says so in an event.
A pipeline job runs its fine-tune and distillation children inline (one job per GPU; waiting on children in
the same single-worker queue would deadlock) while its augmentation child runs on the `augment` workers.
"""

from __future__ import annotations

import tarfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import Callback, Queue, Retry, get_current_job
from rq.job import Job as RQJob

from shared.atomic import atomic_write
from shared.dataset_io import DatasetError
from shared.dataset_store import DatasetStore
from shared.job_params import DistillJobParams, FinetuneJobParams, PipelineJobParams
from shared.job_store import JobStore
from shared.job_types import JobType, QueueName, Stage
from shared.model_refs import missing_local_model
from shared.redis_conn import connect
from shared.schemas import ACTIVE_STATUSES, JobRef, TrainFromAugmentation
from shared.settings import Settings, get_settings
from shared.storage import Storage
from shared.tasks import UnknownTaskError
from workers.cancel_check import throttled
from workers.device_errors import fail_job_on_device_error
from workers.job_failure import record_failure
from workers.orchestration.children import cancel_children, children_of, fail_children

#: RQ ids are "<job id>--<kind>": RQ allows no dots, and the failure callback finds the job from it.
_RQ_SEP = "--"
MODEL_DIR, MODEL_TAR, CHECKPOINT, EXPORT_DIR = "model", "model.tar.gz", "checkpoint.pt", "onnx"


# --- enqueueing (called by the API) ------------------------------------------------------------------------


def rq_id(job_id: str, kind: str) -> str:
    return f"{job_id}{_RQ_SEP}{kind}"


def enqueue(connection: redis.Redis, settings: Settings, job_id: str, kind: JobType) -> str:
    """Queue a fine-tune, distillation or pipeline job on the distill queue; returns the RQ id."""
    from workers.distill.general_jobs import run_general_distillation

    entry = {JobType.FINETUNE: run_finetune, JobType.DISTILLATION: run_distillation, JobType.PIPELINE: run_pipeline}
    entry[JobType.GENERAL_DISTILLATION] = run_general_distillation
    return enqueue_on_distill_queue(connection, settings, entry[kind], job_id, kind, retries=settings.distill_retries)


def enqueue_on_distill_queue(
    connection: redis.Redis, settings: Settings, func: Callable[[str], Any], job_id: str, kind: str, *, retries: int
) -> str:
    """Queue ``func(job_id)`` on the distill queue under the RQ id of (job, kind), with the queue's timeout,
    result lifetime and failure callback; ``retries`` > 0 lets RQ rerun it after a crash. Returns the RQ id."""
    job = Queue(QueueName.DISTILL, connection=connection).enqueue(
        func,
        job_id,
        job_id=rq_id(job_id, kind),
        job_timeout=settings.distill_timeout_s,
        result_ttl=settings.rq_result_ttl_s,
        retry=Retry(max=retries) if retries > 0 else None,
        on_failure=Callback(on_job_failure),
    )
    return job.id


# --- helpers inside a worker -------------------------------------------------------------------------------


def _store() -> JobStore:
    current = get_current_job()
    conn = current.connection if current is not None else connect()
    return JobStore(conn, events_max=get_settings().job_events_max)


def _storage() -> Storage:
    return Storage(get_settings().data_dir)


def _progress(store: JobStore, job_ids: list[str]):
    from workers.distill.job_progress import JobProgress

    s = get_settings()
    return JobProgress(store, job_ids, interval_s=s.progress_interval_s, metrics_max=s.metrics_max)


def _stopper(store: JobStore, job_ids: list[str]) -> Callable[[], bool]:
    """True once the job (or the pipeline running it) was cancelled or failed; the loops ask before every
    step, Redis is read at most every ``cancel_check_s`` seconds."""
    return throttled(lambda: any(store.should_stop(j) for j in job_ids), get_settings().cancel_check_s)


def _dataset_file(store: JobStore, dataset_id: str) -> tuple[Path, dict[str, Any]]:
    """A job's dataset file and document; a DistillError when it was deleted since the job was created."""
    from workers.distill.errors import DistillError

    doc = DatasetStore(store.r).get(dataset_id)
    if doc is None:
        raise DistillError(f"dataset {dataset_id!r} no longer exists")
    return _storage().dataset_file(dataset_id, doc["format"]), doc


def _dev_file(store: JobStore, dataset_id: str | None) -> Path | None:
    return _dataset_file(store, dataset_id)[0] if dataset_id else None


def resolve_teacher(store: JobStore, team: str, teacher: str | JobRef) -> str:
    """A teacher reference -> a model folder or hub id; refuses a fine-tune that has not succeeded."""
    from workers.distill.errors import DistillError

    if isinstance(teacher, JobRef):
        ref = teacher.job_id
        rec = store.raw(ref)
        if rec is None or rec["team"] != team or rec["type"] != JobType.FINETUNE:
            raise DistillError(f"teacher job {ref!r} is not a fine-tune job of this team")
        if rec["status"] != "succeeded":
            raise DistillError(f"teacher job {ref} is {rec['status']}, not a succeeded fine-tune")
        return str(_storage().job_dir(ref) / MODEL_DIR)
    if missing_local_model(teacher):
        raise DistillError(f"teacher {teacher!r}: no such model folder")
    return teacher


def pack_model(folder: Path, target: Path, extras: tuple[Path, ...] = ()) -> int:
    """The model folder as a .tar.gz (entries under ``model/``; each existing extra folder under its own
    name, e.g. ``onnx/``), written atomically; returns its size."""
    with atomic_write(target) as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
        for base, arc in [(folder, MODEL_DIR), *((e, e.name) for e in extras if e.is_dir())]:
            for path in sorted(base.iterdir()):
                if path.is_file() and path.name != CHECKPOINT:
                    tar.add(path, arcname=f"{arc}/{path.name}")
    return target.stat().st_size


def _model_result(job_id: str, report: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    storage = _storage()
    folder = storage.job_dir(job_id) / MODEL_DIR
    tar = storage.job_dir(job_id) / MODEL_TAR
    size = pack_model(folder, tar, extras=(storage.job_dir(job_id) / EXPORT_DIR,))
    return {
        "file": str(tar.relative_to(storage.root)),
        "format": "tar.gz",
        "bytes": size,
        "download": f"/v1/jobs/{job_id}/result",
        "model_dir": str(folder.relative_to(storage.root)),
        "seconds": report.get("seconds"),
        "precision": report.get("precision"),  # what ran, and why
        **summary,
    }


def _execute(store: JobStore, job_id: str, body: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body(record)`` for a job: skip finished jobs, mark running, map user errors to error objects.

    Unexpected exceptions propagate, so RQ retries the job (and a pipeline's own retry resumes its child);
    GPU failures (out of memory, CUDA errors) fail it at once (``workers.device_errors``).
    """
    from workers.distill.errors import DistillError, TrainingCancelled

    rec = store.raw(job_id)
    if rec is None:
        return {"missing": True}
    if rec["status"] not in ACTIVE_STATUSES or store.should_stop(job_id):
        if rec["status"] == "succeeded":  # a retry after a worker died between succeed and the clean-up
            _drop_checkpoint(job_id)
        return {"skipped": rec["status"]}
    if not store.mark_running(job_id):
        store.add_event(job_id, "restarted", "running again after an interrupted attempt")
    try:
        result = body(rec)
    except TrainingCancelled as exc:
        store.add_event(
            job_id, "stopped", f"stopped in stage {exc.stage} at step {exc.step}: job {store.status(job_id)}"
        )
        return {"stopped": True}
    except (DistillError, DatasetError, UnknownTaskError) as exc:
        store.fail(job_id, getattr(exc, "code", "invalid_input"), str(exc))
        return {"failed": True}
    except Exception as exc:  # a GPU failure fails the job (no retry: it would fail the same way)
        if not fail_job_on_device_error(store, [job_id], exc, rec["params"].get("batch_size")):
            raise
        return {"failed": True}
    if store.succeed(job_id, result):
        _drop_checkpoint(job_id)
    return result


def _drop_checkpoint(job_id: str) -> None:
    """Delete a succeeded job's checkpoint: kept until now so that a retry after a failure in export or packing
    resumes from the finished training instead of training again (the engines run with ``keep_checkpoint``)."""
    (_storage().job_dir(job_id) / CHECKPOINT).unlink(missing_ok=True)


def _device_event(store: JobStore, job_ids: list[str], device: str) -> None:
    import torch

    where = device
    if device == "auto":
        where = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    for j in job_ids:
        store.add_event(j, "device", f"training on {where}")


# --- fine-tune ------------------------------------------------------------------------------------------------


def run_finetune(job_id: str, pipeline_id: str | None = None) -> dict[str, Any]:
    """RQ entry point: fine-tune the job's encoder into a teacher; result = the teacher's .tar.gz."""
    store = _store()
    return _execute(store, job_id, lambda rec: _finetune(store, rec, pipeline_id))


def _finetune(store: JobStore, rec: dict[str, Any], pipeline_id: str | None) -> dict[str, Any]:
    from workers.distill.finetune import finetune
    from workers.distill.job_configs import finetune_config

    job_id, p = rec["id"], FinetuneJobParams.model_validate(rec["params"])
    ids = [job_id] + ([pipeline_id] if pipeline_id else [])
    train, doc = _dataset_file(store, p.dataset_id)
    dev = _dev_file(store, p.dev_dataset_id)
    config = finetune_config(
        p,
        model=p.model,
        train=train,
        output_dir=_storage().job_dir(job_id) / MODEL_DIR,
        dev=dev,
        text_columns=tuple(doc["text_columns"]) or None,
        label_column=doc.get("label_column"),
    )
    _device_event(store, ids, config.device)
    progress = _progress(store, ids)
    report = finetune(config, progress=progress, should_stop=_stopper(store, ids))
    progress.finish()
    return _model_result(job_id, report, {"dev": report.get("dev", {}), "params": report.get("params")})


# --- distillation -------------------------------------------------------------------------------------------


def run_distillation(job_id: str, pipeline_id: str | None = None) -> dict[str, Any]:
    """RQ entry point: TinyBERT distillation; resumes from ``checkpoint.pt`` when a previous attempt died."""
    store = _store()
    return _execute(store, job_id, lambda rec: _distill(store, rec, pipeline_id))


def _distill(store: JobStore, rec: dict[str, Any], pipeline_id: str | None) -> dict[str, Any]:
    from workers.distill.general_jobs import student_from_job
    from workers.distill.job_configs import distill_config
    from workers.distill.shard_feed import ShardFeed
    from workers.distill.train import distill

    settings = get_settings()
    job_id, p = rec["id"], DistillJobParams.model_validate(rec["params"])
    p = student_from_job(p, rec["team"])  # student: {job_id} -> that general distillation's model folder
    ids = [job_id] + ([pipeline_id] if pipeline_id else [])
    storage = _storage()
    job_dir = storage.job_dir(job_id)
    should_stop = _stopper(store, ids)
    progress = _progress(store, ids)
    teacher = resolve_teacher(store, rec["team"], p.teacher)
    train_path, doc = _dataset_file(store, p.train_dataset_id)
    if isinstance(p.train, TrainFromAugmentation):
        train: Any = ShardFeed(
            store,
            storage,
            p.train.augmentation_job_id,
            job_dir / "train",
            should_stop=should_stop,
            poll_s=settings.shard_poll_s,
            on_wait=lambda info: progress.set_stage(Stage.AUGMENT, **info),
            on_read=lambda n, total: progress.shards_read(n, total),
        )
    else:
        train = train_path
    dev = _dev_file(store, p.dev_dataset_id)
    checkpoint = job_dir / CHECKPOINT
    if checkpoint.exists():
        progress.event("resuming", f"checkpoint {checkpoint.name} found: continuing from it, not from zero")
    config = distill_config(
        p,
        teacher=teacher,
        train=train,
        output_dir=job_dir / MODEL_DIR,
        dev=dev,
        text_columns=tuple(doc["text_columns"]) or None,
        label_column=doc.get("label_column"),
        resume=True,
        checkpoint_path=checkpoint,
        keep_checkpoint=True,  # deleted once the job has succeeded (_execute)
    )
    _device_event(store, ids, config.device)
    report = distill(config, progress=progress, should_stop=should_stop)
    summary = {
        "task": report["task"],
        "teacher": {k: report["teacher"].get(k) for k in ("params", "dev")},
        "student": {k: report["student"].get(k) for k in ("params", "layers", "hidden", "dev")},
        "train_rows": report.get("train_rows"),
    }
    if p.export:
        summary["exports"] = _export_student(job_dir, p.task, dev, doc, progress)
    progress.finish()
    return _model_result(job_id, report, summary)


def _export_student(job_dir: Path, task: str, dev: Path | None, doc: dict[str, Any], progress: Any) -> dict[str, Any]:
    """ONNX fp32 + int8 beside the student (``onnx/``), checked on the dev set; report.json gains ``exports``."""
    from workers.deploy.job_exports import export_job_model

    progress.event("export", "exporting the student to ONNX (fp32 and dynamic int8)")
    section = export_job_model(
        job_dir / MODEL_DIR,
        job_dir / EXPORT_DIR,
        task,
        dev,
        text_columns=tuple(doc["text_columns"]) or None,
        label_column=doc.get("label_column"),
        log=lambda line: progress.event("export", line),
    )
    if "error" in section:
        progress.event("export_failed", f"ONNX export failed; the PyTorch student is unaffected: {section['error']}")
    return section


# --- pipeline -----------------------------------------------------------------------------------------------


def run_pipeline(job_id: str) -> dict[str, Any]:
    """RQ entry point: [fine-tune ->] distil on the augmentation (already running on the augment queue)."""
    store = _store()
    return _execute(store, job_id, lambda rec: _pipeline(store, rec))


def _child_failed(role: str, child_id: str, error: dict[str, Any]) -> Exception:
    from workers.distill.errors import DistillError

    exc = DistillError(f"{role} job {child_id} failed ({error['code']}): {error['message']}")
    exc.code = f"{role}_failed"  # type: ignore[attr-defined]
    return exc


def _pipeline(store: JobStore, rec: dict[str, Any]) -> dict[str, Any]:
    from workers.distill.errors import TrainingCancelled

    job_id = rec["id"]
    children = PipelineJobParams.model_validate(rec["params"]).children

    def settle(role: JobType, child_id: str) -> dict[str, Any]:
        """After a child ran inline: its record, or the pipeline ends the way the child did."""
        child = store.raw(child_id) or {}
        status = child.get("status")
        if status == "succeeded":
            return child
        if status == "cancelled" or store.should_stop(job_id):
            cancel_children(store, children.ids())
            store.cancel(job_id)
            raise TrainingCancelled(role, 0)
        error = child.get("error") or {"code": "unknown", "message": f"ended {status}"}
        cancel_children(store, children.ids())
        raise _child_failed(role, child_id, error)

    teacher_report = None
    if children.finetune:
        run_finetune(children.finetune, pipeline_id=job_id)
        teacher_report = settle(JobType.FINETUNE, children.finetune).get("result")
    run_distillation(children.distillation, pipeline_id=job_id)
    student = settle(JobType.DISTILLATION, children.distillation)
    # the child's result less its ``bytes``: the pipeline owns no file (its download serves the child's), so
    # nothing more counts towards the team's stored bytes when it succeeds
    result = {k: v for k, v in (student["result"] or {}).items() if k != "bytes"}
    result["children"] = children.model_dump()
    result["download"] = f"/v1/jobs/{job_id}/result"
    if teacher_report:
        result["teacher_job"] = {k: teacher_report.get(k) for k in ("dev", "params", "download")}
    return result


# --- failure callback ---------------------------------------------------------------------------------------


def on_job_failure(job: RQJob, connection: redis.Redis, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ failure callback (exceptions and dead workers alike): note the retry, or fail the job for good."""
    try:
        store = JobStore(connection, events_max=get_settings().job_events_max)
        job_id, _, kind = job.id.partition(_RQ_SEP)
        reason = f"{exc_type.__name__}: {exc_value}".strip().rstrip(":")
        if exc_type.__name__ == "AbandonedJobError":
            reason = "the worker running it died (no heartbeat)"
        retried = (
            f"{kind} attempt failed ({reason}); retrying, "
            f"{job.retries_left} retries left; it resumes from its last checkpoint"
        )
        failed = (f"{kind}_failed", f"{kind} failed: {reason}")
        if record_failure(store, job_id, job.retries_left, (exc_type, exc_value, tb), retried, failed, error=reason):
            fail_children(store, children_of(store.raw(job_id) or {}), f"pipeline {job_id} failed: {reason}")
    except Exception:  # a raising callback would hide the original failure in RQ's logs
        traceback.print_exc()
