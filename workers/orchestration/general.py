"""POST /v1/general-distillations -> a queued general-distillation job (``distill`` queue)."""

from __future__ import annotations

from shared.general_params import GeneralDistillJobParams, GeneralStudentParams
from shared.job_params import heads_problem
from shared.job_types import JobType
from shared.schemas import GeneralDistillationRequest
from workers.orchestration.errors import InvalidRequest
from workers.orchestration.references import check_layer_map, find_dataset, resolve_teacher
from workers.orchestration.submit import Submission, access, checked_precision, create_training_job, queue_training


def submit_general_distillation(sub: Submission, body: GeneralDistillationRequest) -> str:
    """Check the corpus datasets and the student shape, create the job record, queue it."""
    datasets = [
        find_dataset(sub.datasets, sub.team, dataset_id, f"corpus_dataset_ids[{i}]")
        for i, dataset_id in enumerate(body.corpus_dataset_ids)
    ]
    teacher = resolve_teacher(body.teacher, sub.team, sub.jobs, access=access(sub))  # confined to the model roots
    check_layer_map(sub.jobs, sub.team, sub.settings.student_layers, body.layer_map, body.student, "layer_map")
    student = GeneralStudentParams.resolve(sub.settings, **body.student.model_dump())
    if problem := heads_problem(student.hidden, student.heads):
        raise InvalidRequest(f"field 'student.hidden': {problem}")
    hyper = body.model_dump(exclude={"teacher", "corpus_dataset_ids", "student"})
    params = GeneralDistillJobParams.resolve(
        sub.settings, teacher=teacher, corpus_dataset_ids=[d["id"] for d in datasets], student=student, **hyper
    )
    params = checked_precision(sub, params)
    job_id = create_training_job(sub, JobType.GENERAL_DISTILLATION, params, [d["id"] for d in datasets])
    queue_training(sub, job_id, JobType.GENERAL_DISTILLATION)
    return job_id
