"""RQ entry point of general-distillation jobs (``distill`` queue), and the resolution of a distillation's
``student: {"job_id": ...}`` into that job's model folder. Same failure policy and layout as ``jobs.py``."""

from __future__ import annotations

from typing import Any

from shared.general_params import GeneralDistillJobParams
from shared.job_params import DistillJobParams, StudentCheckpointParams, StudentFromJobParams
from shared.job_store import JobStore
from shared.job_types import JobType
from workers.distill.jobs import (
    CHECKPOINT,
    MODEL_DIR,
    _dataset_file,
    _device_event,
    _execute,
    _model_result,
    _progress,
    _stopper,
    _storage,
    _store,
)


def run_general_distillation(job_id: str) -> dict[str, Any]:
    """RQ entry point: general distillation; resumes from ``checkpoint.pt`` when a previous attempt died."""
    store = _store()
    return _execute(store, job_id, lambda rec: _general(store, rec))


def _general(store: JobStore, rec: dict[str, Any]) -> dict[str, Any]:
    from workers.distill.general import GeneralDistillConfig, general_distill
    from workers.distill.models import StudentSpec

    job_id, p = rec["id"], GeneralDistillJobParams.model_validate(rec["params"])
    job_dir = _storage().job_dir(job_id)
    files, columns = [], set()
    for dataset_id in p.corpus_dataset_ids:
        path, doc = _dataset_file(store, dataset_id)
        files.append(path)
        columns.add(tuple(doc["text_columns"]))
    checkpoint = job_dir / CHECKPOINT
    progress = _progress(store, [job_id])
    if checkpoint.exists():
        progress.event("resuming", f"checkpoint {checkpoint.name} found: continuing from it, not from zero")
    hyper = p.model_dump(
        include={"epochs", "lr", "batch_size", "max_seq_len", "layer_map", "seed", "checkpoint_every", "precision"}
    )
    config = GeneralDistillConfig.from_settings(
        teacher=p.teacher,
        corpus=files,
        output_dir=job_dir / MODEL_DIR,
        student=StudentSpec(**p.student.model_dump()),
        text_columns=next(iter(columns)) if len(columns) == 1 else None,  # else each file's own (GLUE) columns
        resume=True,
        checkpoint_path=checkpoint,
        keep_checkpoint=True,  # deleted once the job has succeeded (jobs._execute)
        **hyper,
    )
    _device_event(store, [job_id], config.device)
    report = general_distill(config, progress=progress, should_stop=_stopper(store, [job_id]))
    progress.finish()
    summary = {k: report[k] for k in ("student", "corpus", "layer_map", "precision")}
    return _model_result(job_id, report, {**summary, "corpus": {**report["corpus"], "files": len(files)}})


def student_from_job(params: DistillJobParams, team: str) -> DistillJobParams:
    """A distillation whose student is ``{job_id}``: the same params with that job's model folder as checkpoint."""
    from workers.distill.errors import DistillError

    if not isinstance(params.student, StudentFromJobParams):
        return params
    ref = params.student.job_id
    rec = _store().raw(ref)
    if rec is None or rec["team"] != team or rec["type"] != JobType.GENERAL_DISTILLATION:
        raise DistillError(f"student job {ref!r} is not a general distillation of this team")
    if rec["status"] != "succeeded":
        raise DistillError(f"student job {ref} is {rec['status']}, not a succeeded general distillation")
    folder = str(_storage().job_dir(ref) / MODEL_DIR)
    return params.model_copy(update={"student": StudentCheckpointParams(checkpoint=folder)})
