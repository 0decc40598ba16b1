"""The resolved job parameters: defaults from Settings, the stored JSON's shape, reading records back."""

from __future__ import annotations

import pytest

from shared.job_params import (
    AugmentJobParams,
    AugmentRunParams,
    DistillJobParams,
    FinetuneJobParams,
    ParamsError,
    PipelineChildren,
    StudentCheckpointParams,
    StudentFromTeacherParams,
    StudentShapeParams,
    resolve_student,
)
from shared.job_types import JobType, QueueName, Stage
from shared.schemas import JobRef, StudentCheckpoint, StudentFromTeacher, StudentShape, TrainFromAugmentation
from shared.settings import Settings


def test_unset_fields_take_the_settings_defaults() -> None:
    s = Settings(aug_n=7, aug_stop_words="stop.txt", shard_rows=10)
    params = AugmentJobParams.resolve(s, dataset_id="ds_1", k=3, seed=None)
    assert (params.n, params.k, params.seed, params.stop_words, params.shard_rows) == (7, 3, 42, "stop.txt", 10)
    assert AugmentRunParams.setting_defaults(s)["n"] == 7
    with pytest.raises(TypeError, match="nn"):
        AugmentRunParams.resolve(s, nn=3)


def test_sequence_length_defaults_to_the_tasks_kind() -> None:
    s = Settings(max_seq_len_single=40, max_seq_len_pair=90)
    fixed = {"model": "m", "dataset_id": "ds_1"}
    assert FinetuneJobParams.resolve(s, task="sst-2", **fixed).max_seq_len == 40
    assert FinetuneJobParams.resolve(s, task="rte", **fixed).max_seq_len == 90
    assert FinetuneJobParams.resolve(s, task="rte", max_seq_len=16, **fixed).max_seq_len == 16


def test_the_stored_json_keeps_its_keys_and_order() -> None:
    s = Settings()
    aug = AugmentJobParams.resolve(s, dataset_id="ds_1").model_dump(mode="json")
    assert list(aug) == [
        "dataset_id", "n", "k", "p", "seed", "mlm_model", "glove", "shard_rows", "batch_size", "pair_input", "stop_words",
        "precision",
    ]  # fmt: skip
    ft = FinetuneJobParams.resolve(s, model="m", dataset_id="ds_1", task="rte")
    assert "pipeline_id" not in ft.model_dump(mode="json")  # a standalone job's params have no pipeline_id
    assert ft.model_copy(update={"pipeline_id": "job_p"}).model_dump(mode="json")["pipeline_id"] == "job_p"
    distill = DistillJobParams.resolve(
        s,
        teacher=JobRef(job_id="job_t"),
        train=TrainFromAugmentation(augmentation_job_id="job_a"),
        train_dataset_id="ds_1",
        task="rte",
        student=resolve_student(StudentShape(), s),
        layer_map=[1, 3],
    )
    doc = distill.model_dump(mode="json")
    assert list(doc)[:6] == ["teacher", "train", "train_dataset_id", "dev_dataset_id", "task", "student"]
    assert doc["teacher"] == {"job_id": "job_t"} and doc["train"] == {"augmentation_job_id": "job_a"}
    assert DistillJobParams.model_validate(doc) == distill  # the worker reads the record back as it was made


def test_students_resolve_to_one_of_three_shapes() -> None:
    s = Settings(student_layers=3)
    assert resolve_student(StudentShape(hidden=64, heads=4), s) == StudentShapeParams(
        layers=3, hidden=64, heads=4, intermediate=1200
    )
    assert resolve_student(StudentFromTeacher(init="teacher"), s) == StudentFromTeacherParams(init="teacher", layers=3)
    assert resolve_student(StudentCheckpoint(checkpoint="ckpt"), s) == StudentCheckpointParams(checkpoint="ckpt")
    assert resolve_student(StudentCheckpoint(checkpoint="ckpt", layers=2), s).layers == 2
    with pytest.raises(ParamsError, match="30 is not a multiple of heads=4"):
        resolve_student(StudentShape(hidden=30, heads=4), s)
    # a stored student is read back as the shape it was written as
    for student in (
        {"init": "teacher", "layers": 2},
        {"checkpoint": "c", "layers": None},
        {"checkpoint": "c", "layers": 4},
    ):
        assert (
            DistillJobParams.model_validate(
                {
                    "teacher": "t",
                    "train": {"dataset_id": "ds_1"},
                    "train_dataset_id": "ds_1",
                    "task": "rte",
                    "student": student,
                    **_recipe(s),
                }
            ).student.model_dump()
            == student
        )


def _recipe(s: Settings) -> dict[str, object]:
    return {
        "stage1_epochs": 1,
        "stage2_epochs": 1,
        "lr1": 0.1,
        "lr2": 0.1,
        "batch_size": 2,
        "max_seq_len": 16,
        "layer_map": "uniform",
        "temperature": 1.0,
        "seed": 0,
        "checkpoint_every": s.checkpoint_every,
    }


def test_names_are_the_plain_strings_of_the_records() -> None:
    assert JobType.AUGMENTATION == "augmentation" and f"{QueueName.DISTILL}" == "distill"
    assert Stage.DISTILL_INTERMEDIATE == "distill-intermediate"
    children = PipelineChildren(finetune=None, augmentation="job_a", distillation="job_d")
    assert children.ids() == ["job_a", "job_d"]
    assert list(children.model_dump()) == [JobType.FINETUNE, JobType.AUGMENTATION, JobType.DISTILLATION]
