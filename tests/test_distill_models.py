"""Teacher loading, student building and the refusals that protect them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, BertConfig, BertForSequenceClassification, BertTokenizerFast

from shared.tasks import get_task
from tests.distill_helpers import make_tiny_teacher, minilm_path
from workers.distill.errors import DistillError
from workers.distill.models import (
    StudentSpec,
    build_student,
    count_parameters,
    load_teacher,
    load_tokenizer,
    resolve_device,
    student_layer_count,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    return make_tiny_teacher(tmp_path_factory.mktemp("teacher"), layers=4)


def test_encoder_without_head_is_refused_with_the_fix() -> None:
    with pytest.raises(DistillError, match="no sequence-classification head.*distillery finetune"):
        load_teacher(minilm_path(), get_task("sst-2"), CPU)


def test_classifier_architecture_without_weights_is_refused(tmp_path: Path) -> None:
    AutoModel.from_pretrained(minilm_path()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]  # claims a head its weights lack
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(DistillError, match="no trained classification weights"):
        load_teacher(str(tmp_path), get_task("sst-2"), CPU)


def test_missing_teacher_and_label_count_mismatch(teacher_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DistillError, match="cannot load the teacher .*no such folder"):
        load_teacher(str(tmp_path / "nothing"), get_task("sst-2"), CPU)
    with pytest.raises(DistillError, match="predicts 2 label"):
        load_teacher(str(teacher_dir), get_task("sts-b"), CPU)


def test_teacher_is_frozen_in_eval(teacher_dir: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_student_from_shape_keeps_labels_and_vocab(teacher_dir: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    student, start = build_student(StudentSpec(2, 32, 4, 48), teacher, load_tokenizer(str(teacher_dir)), [2, 4])
    assert start == {}
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 32
    assert student.config.vocab_size == teacher.config.vocab_size
    assert student.config.id2label == teacher.config.id2label
    assert count_parameters(student) < count_parameters(teacher)


def test_student_from_teacher_copies_the_mapped_layers(teacher_dir: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    student, _ = build_student(StudentSpec(2, init="teacher"), teacher, load_tokenizer(str(teacher_dir)), [2, 4])
    s, t = student.bert.encoder.layer, teacher.bert.encoder.layer
    assert torch.equal(s[0].output.dense.weight, t[1].output.dense.weight)
    assert torch.equal(s[1].attention.self.query.weight, t[3].attention.self.query.weight)
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)


def test_student_checkpoint_with_too_few_of_the_teachers_tokens_is_refused(teacher_dir: Path, tmp_path: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    other = tmp_path / "other"
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48
    )
    BertForSequenceClassification(config).save_pretrained(other)
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(other)
    with pytest.raises(DistillError, match=r"another tokenizer, which has only \d of the teacher's 30,522 tokens"):
        build_student(StudentSpec(checkpoint=str(other)), teacher, load_tokenizer(str(teacher_dir)), [2, 4])
    small = tmp_path / "small"
    config.vocab_size = 7
    BertForSequenceClassification(config).save_pretrained(small)
    with pytest.raises(DistillError, match="vocab_size 7 but the teacher 30522, and no tokenizer"):
        build_student(StudentSpec(checkpoint=str(small)), teacher, load_tokenizer(str(teacher_dir)), [2, 4])
    load_tokenizer(str(teacher_dir)).save_pretrained(small)  # the teacher's own tokenizer: no re-indexing, sizes differ
    with pytest.raises(DistillError, match="vocab_size 7 but the teacher 30522; student and teacher must share one"):
        build_student(StudentSpec(checkpoint=str(small)), teacher, load_tokenizer(str(teacher_dir)), [2, 4])


def test_student_checkpoint_gets_a_fresh_head(teacher_dir: Path, tmp_path: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    general = tmp_path / "general"
    encoder = AutoModel.from_config(
        BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48)
    )
    encoder.save_pretrained(general)
    spec = StudentSpec(checkpoint=str(general))
    assert student_layer_count(spec) == 3
    student, start = build_student(spec, teacher, load_tokenizer(str(teacher_dir)), [1, 2, 4])
    assert student.config.num_labels == 2 and student.config.num_hidden_layers == 3
    assert start == {"layers_kept": [1, 2, 3], "of_layers": 3, "vocabulary": {"transplanted": False}}
    assert torch.equal(
        student.bert.encoder.layer[0].attention.self.query.weight, encoder.encoder.layer[0].attention.self.query.weight
    )


def test_head_count_mismatch_and_bad_shapes(teacher_dir: Path) -> None:
    teacher = load_teacher(str(teacher_dir), get_task("sst-2"), CPU)
    tok = load_tokenizer(str(teacher_dir))
    with pytest.raises(DistillError, match="attention heads"):
        build_student(StudentSpec(2, 32, 2, 48), teacher, tok, [2, 4])
    with pytest.raises(DistillError, match="not a multiple"):
        build_student(StudentSpec(2, 30, 4, 48), teacher, tok, [2, 4])


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(DistillError, match="unknown device"):
        resolve_device("tpu-ish")


def test_a_bf16_saved_teacher_gives_an_fp32_teacher_and_student(tmp_path: Path) -> None:
    """transformers 5 follows config.dtype: a bf16 checkpoint must still train an fp32 (master-weight) student."""
    folder = make_tiny_teacher(tmp_path / "teacher", layers=2)
    model = BertForSequenceClassification.from_pretrained(folder).to(torch.bfloat16)
    model.save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    teacher = load_teacher(str(folder), get_task("sst-2"), CPU)
    assert {p.dtype for p in teacher.parameters()} == {torch.float32}
    tokenizer = load_tokenizer(str(folder))
    for init in ("random", "teacher"):
        spec = StudentSpec(layers=1, hidden=64, heads=4, intermediate=64, init=init)
        student, _ = build_student(spec, teacher, tokenizer, [2])
        assert {p.dtype for p in student.parameters()} == {torch.float32}
        student.save_pretrained(tmp_path / init)  # and it stays fp32 when reloaded
        assert BertForSequenceClassification.from_pretrained(tmp_path / init).dtype == torch.float32
    bf16_student = BertForSequenceClassification.from_pretrained(tmp_path / "random").to(torch.bfloat16)
    bf16_student.save_pretrained(tmp_path / "bf16-student")
    spec = StudentSpec(checkpoint=str(tmp_path / "bf16-student"))
    assert build_student(spec, teacher, tokenizer, [2])[0].dtype == torch.float32


def _relabelled_copy(source: Path, folder: Path, names: list[str], rows: list[int]) -> Path:
    """``source``'s teacher saved with classifier output i = its output ``rows[i]``, named ``names[i]``."""
    model = BertForSequenceClassification.from_pretrained(source)
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows])
        model.classifier.bias.copy_(model.classifier.bias[rows])
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    model.save_pretrained(folder)
    load_tokenizer(str(source)).save_pretrained(folder)
    return folder


def _as_saved(folder: Path) -> torch.nn.Module:
    """The teacher as its files have it, without load_teacher's reordering."""
    return BertForSequenceClassification.from_pretrained(folder).eval()


def _logits(model: torch.nn.Module) -> torch.Tensor:
    ids = torch.tensor([[101, 2023, 3185, 2001, 2307, 102, 1037, 2204, 2143, 102]])
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def mnli_teacher(tmp_path_factory) -> Path:
    return make_tiny_teacher(tmp_path_factory.mktemp("mnli"), task="mnli", seed=4)


def test_a_teacher_with_the_task_labels_in_another_order_is_reordered(mnli_teacher: Path, tmp_path: Path) -> None:
    mnli = get_task("mnli")  # contradiction, entailment, neutral
    hub = _relabelled_copy(mnli_teacher, tmp_path / "hub", ["ENTAILMENT", "Neutral", "contradiction"], [1, 2, 0])
    assert not torch.allclose(_logits(load_teacher(str(mnli_teacher), mnli, CPU)), _logits(_as_saved(hub)))
    teacher = load_teacher(str(hub), mnli, CPU)
    assert torch.allclose(_logits(teacher), _logits(load_teacher(str(mnli_teacher), mnli, CPU)), atol=1e-6)
    assert teacher.config.id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}
    assert teacher.config.label2id == {"contradiction": 0, "entailment": 1, "neutral": 2}


def test_generic_label_names_are_taken_in_the_teachers_order(mnli_teacher: Path, tmp_path: Path) -> None:
    for names in (["LABEL_0", "LABEL_1", "LABEL_2"], ["0", "1", "2"]):
        folder = _relabelled_copy(mnli_teacher, tmp_path / names[0], names, [1, 2, 0])
        teacher = load_teacher(str(folder), get_task("mnli"), CPU)
        assert torch.equal(_logits(teacher), _logits(_as_saved(folder)))


def test_label_words_that_are_not_the_tasks_are_refused_naming_both(mnli_teacher: Path, tmp_path: Path) -> None:
    folder = _relabelled_copy(mnli_teacher, tmp_path / "other", ["yes", "maybe", "no"], [0, 1, 2])
    with pytest.raises(DistillError, match=r"labels \['yes', 'maybe', 'no'\] but task mnli has \['contradiction'"):
        load_teacher(str(folder), get_task("mnli"), CPU)
