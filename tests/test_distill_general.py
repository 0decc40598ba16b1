"""General distillation on tiny real models and real GLUE text: the losses fall, the output is a plain
BertModel folder, a killed run resumes to the same weights, and the output starts a task distillation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from tests.distill_helpers import glue_sample, make_tiny_teacher
from tests.distill_job_helpers import tiny_encoder
from workers.distill import general
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.general import STAGE_GENERAL, GeneralDistillConfig, general_distill
from workers.distill.models import StudentSpec
from workers.distill.progress import ProgressEvent
from workers.distill.train import DistillConfig, distill


@pytest.fixture(scope="module")
def data(tmp_path_factory, glue_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("general")
    corpus = root / "corpus.txt"
    lines = (glue_dir / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:49]
    corpus.write_text("\n".join(line.split("\t")[0] for line in lines) + "\n\n", encoding="utf-8")
    return {
        "root": root,
        "teacher": tiny_encoder(root / "teacher"),
        "corpus": corpus,
        "pairs": glue_sample(glue_dir, "RTE", "train", 8, root / "rte.tsv"),
    }


def _config(data: dict[str, Path], out: Path, **kw) -> GeneralDistillConfig:
    values = dict(
        teacher=str(data["teacher"]),
        corpus=[data["corpus"], data["pairs"]],
        output_dir=out,
        student=StudentSpec(1, 32, 4, 64),
        epochs=2,
        lr=2e-3,
        batch_size=16,
        checkpoint_every=3,
        device="cpu",
        seed=5,
        log_every=2,
    )
    return GeneralDistillConfig(**{**values, **kw})


@pytest.fixture(scope="module")
def full_run(data) -> tuple[dict, Path]:
    out = data["root"] / "full"
    return general_distill(_config(data, out)), out


def test_the_losses_fall_and_the_output_is_a_bert_encoder_with_report(full_run) -> None:
    report, out = full_run
    assert report["corpus"]["passages"] == 48 + 2 * 8  # blank lines skipped; a pair row gives two passages
    (stage,) = report["stages"]
    assert stage["name"] == STAGE_GENERAL and stage["steps"] == 2 * 4  # 64 passages / 16, two epochs
    first, last = stage["loss_history"][0], stage["loss_history"][-1]
    assert set(first) >= {"embedding", "attention", "hidden"} and "prediction" not in first
    assert last["embedding"] < first["embedding"] and last["hidden"] < first["hidden"]
    model = AutoModel.from_pretrained(out)
    assert type(model).__name__ == "BertModel" and model.config.num_hidden_layers == 1
    assert model.config.hidden_size == 32 and (out / "tokenizer.json").exists()
    assert json.loads((out / "report.json").read_text())["student"]["params"] == report["student"]["params"]
    assert not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("init", ["random", "pruned"])
@pytest.mark.parametrize("stop_after", [4, 7])  # checkpoints after steps 3 and 6
def test_a_killed_run_resumes_to_the_same_weights(
    full_run, data, tmp_path: Path, stop_after: int, init: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    student = StudentSpec(1, 32, 4, 64, init=init)
    if init == "random":
        reference = full_run[1]
    else:
        reference = tmp_path / "reference"
        assert general_distill(_config(data, reference, student=student))["student"]["init"]["used"] == "pruned"
    out = tmp_path / "run"
    steps: list[int] = []

    def progress(event: ProgressEvent) -> None:
        steps.append(event.step)

    with pytest.raises(TrainingCancelled):
        general_distill(
            _config(data, out, student=student), progress=progress, should_stop=lambda: len(steps) >= stop_after
        )
    assert (out / "checkpoint.pt").exists()
    events: list[ProgressEvent] = []
    cuts: list[object] = []  # a resumed run's weights come from its checkpoint: the teacher is not cut again
    monkeypatch.setattr(general, "start_pruned", lambda *args: cuts.append(args))
    general_distill(_config(data, out, student=student, resume=True), progress=events.append)
    assert cuts == []
    assert any(e.message and e.message.startswith("resumed from checkpoint") for e in events)
    expected, got = AutoModel.from_pretrained(reference).state_dict(), AutoModel.from_pretrained(out).state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[name], got[name]) for name in expected)


def test_a_run_resumed_from_its_final_checkpoint_trains_no_step_again(full_run, data, tmp_path: Path) -> None:
    """A service job keeps its checkpoint until it has succeeded; a retry after its packing failed trains nothing."""
    distill_report, reference = full_run
    general_distill(_config(data, tmp_path, keep_checkpoint=True))
    assert (tmp_path / "checkpoint.pt").exists()
    events: list[ProgressEvent] = []
    report = general_distill(_config(data, tmp_path, resume=True), progress=events.append)
    assert not [e for e in events if e.losses]  # not one training step
    (resumed,) = [e for e in events if e.message]
    assert "training had finished" in str(resumed.message) and resumed.step == 8
    assert [s["loss_history"] for s in report["stages"]] == [s["loss_history"] for s in distill_report["stages"]]
    expected, got = AutoModel.from_pretrained(reference).state_dict(), AutoModel.from_pretrained(tmp_path).state_dict()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_output_starts_a_task_distillation(full_run, data, glue_dir: Path, tmp_path: Path) -> None:
    _, general = full_run
    teacher = make_tiny_teacher(tmp_path / "task-teacher", layers=2, hidden=64, heads=4)
    report = distill(
        DistillConfig(
            teacher=str(teacher),
            train=glue_sample(glue_dir, "SST-2", "train", 32, tmp_path / "train.tsv"),
            task="sst-2",
            output_dir=tmp_path / "student",
            student=StudentSpec(checkpoint=str(general)),
            stage1_epochs=1,
            stage2_epochs=1,
            batch_size=16,
            device="cpu",
        )
    )
    assert report["student"]["checkpoint"] == str(general) and report["student"]["hidden"] == 32
    assert report["projections_start"] == "distill_projections.pt of the student checkpoint"  # same map, sizes
    started = AutoModel.from_pretrained(general).state_dict()["embeddings.word_embeddings.weight"]
    assert started.shape == (30522, 32)


def test_bad_inputs_are_one_line_errors(data, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="attention heads"):
        general_distill(_config(data, tmp_path, student=StudentSpec(1, 32, 8, 64)))
    with pytest.raises(DistillError, match="fresh student"):
        general_distill(_config(data, tmp_path, student=StudentSpec(checkpoint=str(data["teacher"]))))
