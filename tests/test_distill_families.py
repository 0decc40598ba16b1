"""Teachers beyond BERT: every supported family's captured scores are the ones its own softmax sees, each
distils into a BERT student that reloads, and anything else is refused up front with a clear message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

from services.cli.main import main
from tests.distill_helpers import minilm_path
from tests.family_helpers import family_config, family_model, make_family_teacher, sst2_rows
from workers.distill.attention_capture import enable_capture, pop_scores, use_eager_attention
from workers.distill.errors import DistillError, UnsupportedTeacher
from workers.distill.families import FAMILIES
from workers.distill.models import StudentSpec
from workers.distill.train import DistillConfig, distill

FAMILY_TYPES = sorted(FAMILIES)


def _batch(vocab: int, pad_id: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(5, vocab, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return {"input_ids": ids.masked_fill(mask == 0, pad_id), "attention_mask": mask}


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_captured_scores_are_what_the_models_own_softmax_sees(model_type: str) -> None:
    model, tokenizer = family_model(model_type)
    batch = _batch(len(tokenizer), tokenizer.pad_token_id)
    use_eager_attention(model)
    with torch.no_grad():
        reference = model(**batch, output_attentions=True)
    enable_capture(model)
    with torch.no_grad():
        captured = model(**batch)
    scores = pop_scores(model)
    assert len(scores) == 2 and all(s is not None and s.shape == (3, 4, 9, 9) for s in scores)
    assert not torch.allclose(scores[0], scores[1])  # one tensor per layer call (ALBERT shares one module)
    real = batch["attention_mask"].bool()
    additive = (~real)[:, None, None, :].float() * torch.finfo(torch.float32).min
    for layer, s in enumerate(scores):
        probs = torch.softmax(s + additive, dim=-1)
        expected = reference.attentions[layer]
        rows = real[:, None, :, None].expand_as(probs)  # padded query rows differ by family; they never count
        assert torch.allclose(probs[rows], expected[rows], atol=1e-5), f"layer {layer}"
    assert torch.allclose(captured.logits, reference.logits, atol=1e-5)  # capturing changes nothing
    use_eager_attention(model)
    with torch.no_grad():
        model(**batch)
    assert pop_scores(model) == []  # capture off: no hooks, nothing recorded


@pytest.mark.parametrize("model_type", ["bert", "mpnet", "deberta-v2"])
def test_a_teacher_keeps_only_the_mapped_layers(model_type: str) -> None:
    model, tokenizer = family_model(model_type, layers=3)
    enable_capture(model, [1])
    with torch.no_grad():
        model(**_batch(len(tokenizer), tokenizer.pad_token_id))
    scores = pop_scores(model)
    assert scores[0] is None and scores[2] is None and scores[1] is not None


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    return sst2_rows(tmp_path_factory.mktemp("families") / "train.tsv")


def _config(teacher: Path, rows: Path, out: Path, **kw) -> DistillConfig:
    values = dict(
        teacher=str(teacher),
        train=rows,
        dev=rows,
        task="sst-2",
        output_dir=out,
        student=StudentSpec(1, 32, 4, 64),  # one layer: the uniform map takes teacher layer 2 of 2
        stage1_epochs=1,
        stage2_epochs=1,
        lr1=1e-3,
        lr2=1e-3,
        batch_size=8,
        device="cpu",
        seed=3,
        allow_weak_teacher=True,  # random teachers; the guard has its own tests
    )
    values.update(kw)
    return DistillConfig(**values)


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_each_family_distils_into_a_bert_student_that_reloads(model_type: str, rows: Path, tmp_path: Path) -> None:
    teacher = make_family_teacher(tmp_path / "teacher", model_type)
    out = tmp_path / "student"
    report = distill(_config(teacher, rows, out))
    assert report["layer_map"] == [2]
    for stage in report["stages"]:
        assert stage["steps"] >= 1
        for point in stage["loss_history"]:
            assert all(math.isfinite(v) for k, v in point.items() if isinstance(v, float)), point
    assert set(report["stages"][0]["loss_history"][-1]) >= {"embedding", "attention", "hidden"}
    student = AutoModelForSequenceClassification.from_pretrained(out)
    assert isinstance(student, BertForSequenceClassification)
    teacher_config = json.loads((teacher / "config.json").read_text())
    assert student.config.vocab_size == teacher_config["vocab_size"]
    assert student.config.pad_token_id == teacher_config["pad_token_id"]
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(teacher).get_vocab()
    enc = tokenizer(["a warm story", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.isfinite(student(**enc).logits).all()


def test_student_init_teacher_is_refused_for_a_non_bert_teacher(rows: Path, tmp_path: Path) -> None:
    teacher = make_family_teacher(tmp_path / "teacher", "roberta")
    spec = StudentSpec(1, 32, 4, 64, init="teacher")
    with pytest.raises(DistillError, match="copies BERT layers, but the teacher is a RoBERTa model"):
        distill(_config(teacher, rows, tmp_path / "out", student=spec))


def test_head_count_mismatch_is_refused_naming_the_fix(rows: Path, tmp_path: Path) -> None:
    teacher = make_family_teacher(tmp_path / "teacher", "mpnet")
    with pytest.raises(DistillError, match="--student-heads 4"):
        distill(_config(teacher, rows, tmp_path / "out", student=StudentSpec(1, 32, 2, 64)))


def _unsupported_teacher(folder: Path) -> Path:
    """A DeBERTa (v1) config: its attention is neither interface-based nor hooked, so it is refused. A real
    tokenizer beside it, so that a service's submission checks (config and tokenizer present) let it through."""
    from transformers import AutoTokenizer

    family_config("deberta", 100, 0).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def test_unsupported_family_is_refused_before_any_work(rows: Path, tmp_path: Path) -> None:
    teacher = _unsupported_teacher(tmp_path / "teacher")
    with pytest.raises(UnsupportedTeacher) as caught:
        distill(_config(teacher, rows, tmp_path / "out"))
    message = str(caught.value)
    assert caught.value.code == "unsupported_teacher"
    assert "'deberta'" in message and str(teacher) in message
    assert all(t in message for t in FAMILY_TYPES)


def test_cli_refuses_an_unsupported_teacher_with_one_line_and_exit_2(rows: Path, tmp_path: Path, capsys) -> None:
    teacher = _unsupported_teacher(tmp_path / "teacher")
    argv = ["distill", "--teacher", str(teacher), "--train", str(rows), "--task", "sst-2"]
    assert main([*argv, "--output", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not supported for distillation" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_distillation_job_fails_with_unsupported_teacher(redis_url, rows: Path, tmp_path: Path) -> None:
    from tests.distill_job_helpers import TINY_STUDENT, run_one_job, wait_done, worker_env
    from tests.service_helpers import AUTH_A, make_client, upload

    data_dir = tmp_path / "data"
    teacher = _unsupported_teacher(tmp_path / "teacher")
    with make_client(redis_url, data_dir) as client:
        dataset = upload(client, rows.name, rows.read_bytes(), task="sst-2").json()
        body = {"teacher": str(teacher), "train": {"dataset_id": dataset["id"]}, "student": TINY_STUDENT}
        job = client.post("/v1/distillations", headers=AUTH_A, json=body).json()
        run_one_job("distill", worker_env(redis_url, data_dir))
        done = wait_done(client, job["id"], timeout=30)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "unsupported_teacher"
    assert "'deberta'" in done["error"]["message"] and "mpnet" in done["error"]["message"]
