"""The narrowed teacher copy (``width_prune.py``) on tiny real models and real SST-2 text: at full width it is
the teacher exactly, it keeps the units the teacher uses most, its projections start as the cut's inverse, and
a general distillation can start from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, BertModel

from tests.distill_helpers import tiny_bert_config
from tests.distill_job_helpers import tiny_encoder
from tests.family_helpers import make_family_teacher
from workers.distill.errors import DistillError
from workers.distill.general import GeneralDistillConfig, general_distill
from workers.distill.models import StudentSpec
from workers.distill.width_prune import load_narrowed, measure_widths, selection_projection


@pytest.fixture(scope="module")
def texts(glue_dir: Path) -> list[str]:
    lines = (glue_dir / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:33]
    return [line.split("\t")[0] for line in lines]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("prune") / "teacher", hidden=64, layers=3, heads=4)


def _batches(folder: Path, texts: list[str]) -> list[dict[str, torch.Tensor]]:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return [dict(tokenizer(texts[i : i + 8], padding=True, return_tensors="pt")) for i in range(0, len(texts), 8)]


def _student(teacher: BertModel, layers: int, hidden: int, intermediate: int) -> BertModel:
    config = tiny_bert_config(hidden, layers, teacher.config.num_attention_heads)
    config.intermediate_size = intermediate
    return BertModel(config)


def test_at_full_width_the_copy_is_the_teacher(teacher_dir: Path, texts: list[str]) -> None:
    teacher = AutoModel.from_pretrained(teacher_dir).eval()
    batches = _batches(teacher_dir, texts)
    plan = measure_widths(teacher, batches, 64, 128)
    assert plan.hidden.tolist() == list(range(64)) and plan.query_scale == 1.0
    student = _student(teacher, 3, 64, 128).eval()
    load_narrowed(student, teacher, plan, [1, 2, 3])
    with torch.no_grad():
        expected = teacher(**batches[0], output_hidden_states=True).hidden_states
        got = student(**batches[0], output_hidden_states=True).hidden_states
    for mine, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-4)


def test_the_units_the_teacher_uses_most_are_kept(teacher_dir: Path, texts: list[str]) -> None:
    teacher = AutoModel.from_pretrained(teacher_dir).eval()
    loud = [5, 17, 40]
    with torch.no_grad():  # these units carry ten times the signal everywhere: embeddings and every output
        for module in [teacher.embeddings.LayerNorm] + [layer.output.LayerNorm for layer in teacher.encoder.layer]:
            module.weight[loud] *= 10
            module.weight[[u + 1 for u in loud]] *= 0.01
    plan = measure_widths(teacher, _batches(teacher_dir, texts), 32, 64)
    kept = set(plan.hidden.tolist())
    assert set(loud) <= kept and not {u + 1 for u in loud} & kept
    assert plan.hidden.numel() == 32 and all(len(f) == 64 for f in plan.ffn)
    assert all(len(q) == 32 for q in plan.query_key)  # 4 heads x 8 of each head's 16 dimensions
    assert plan.query_scale == pytest.approx((8 / 16) ** 0.5)


def test_a_narrow_copy_starts_close_to_the_teacher_through_its_projection(teacher_dir: Path, texts) -> None:
    teacher = AutoModel.from_pretrained(teacher_dir).eval()
    batches = _batches(teacher_dir, texts)
    plan = measure_widths(teacher, batches, 48, 96)
    student = _student(teacher, 2, 48, 96).eval()
    load_narrowed(student, teacher, plan, [2, 3])
    fresh = _student(teacher, 2, 48, 96).eval()
    with torch.no_grad():
        t = teacher(**batches[1], output_hidden_states=True).hidden_states[3]
        mine = student(**batches[1], output_hidden_states=True).hidden_states[2]
        theirs = fresh(**batches[1], output_hidden_states=True).hidden_states[2]
        cut = nn.Linear(48, 64)
        selection_projection(cut, plan, 3)
        assert torch.equal(cut(torch.eye(48))[:, plan.hidden] - cut.bias[plan.hidden], torch.eye(48))
        random_map = nn.Linear(48, 64)
        mask = batches[1]["attention_mask"].bool()
        assert ((cut(mine) - t)[mask] ** 2).mean() < 0.5 * ((random_map(theirs) - t)[mask] ** 2).mean()


@pytest.mark.parametrize("family", ["bert", "mpnet"])
def test_general_distillation_starts_from_the_cut_teacher(teacher_dir: Path, texts, tmp_path: Path, family) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    teacher = teacher_dir if family == "bert" else make_family_teacher(tmp_path / "mpnet", "mpnet", layers=3)
    config = GeneralDistillConfig(
        teacher=str(teacher), corpus=[corpus], output_dir=tmp_path / "out", student=StudentSpec(2, 32, 4, 64,
        init="pruned"), epochs=1, lr=1e-3, batch_size=16, device="cpu", seed=1, checkpoint_every=10**9,
    )  # fmt: skip
    report = general_distill(config)
    assert report["student"]["init"] == {"asked": "pruned", "used": "pruned", "why": report["student"]["init"]["why"]}
    first = report["stages"][0]["loss_history"][0]
    random_start = general_distill(
        GeneralDistillConfig(
            **{**config.__dict__, "output_dir": tmp_path / "random", "student": StudentSpec(2, 32, 4, 64)}
        )
    )["stages"][0]["loss_history"][0]
    assert first["hidden"] < random_start["hidden"]
    model = AutoModel.from_pretrained(tmp_path / "out")
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2


def test_a_family_we_cannot_cut_is_refused_and_auto_falls_back_to_random(tmp_path: Path, texts: list[str]) -> None:
    teacher = make_family_teacher(tmp_path / "distilbert", "distilbert")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    config = GeneralDistillConfig(
        teacher=str(teacher), corpus=[corpus], output_dir=tmp_path / "out", student=StudentSpec(1, 16, 4, 32,
        init="pruned"), epochs=1, batch_size=16, device="cpu",
    )  # fmt: skip
    with pytest.raises(DistillError, match="pruned cuts a teacher of family bert, mpnet; this teacher is 'distilbert'"):
        general_distill(config)
    auto = GeneralDistillConfig(**{**config.__dict__, "student": StudentSpec(1, 16, 4, 32, init="auto")})
    assert general_distill(auto)["student"]["init"]["used"] == "random"
