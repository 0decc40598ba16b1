"""A pre-trained BERT checkpoint as the student's start when its tokenizer or depth differ from what the student
needs: an MPNet teacher (BERT's WordPieces plus <s>/</s>/<pad>/<mask>, in another order) and a BERT checkpoint
with the real bert-base-uncased tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BertConfig, MPNetTokenizer

from shared.tasks import get_task
from tests.distill_helpers import minilm_path
from tests.family_helpers import family_config, make_family_teacher, sst2_rows
from workers.distill.checkpoint_adapt import match_vocabularies
from workers.distill.errors import DistillError
from workers.distill.models import StudentSpec, build_student, load_teacher, load_tokenizer, student_layer_count
from workers.distill.train import DistillConfig, distill

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mpnet_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MPNet SST-2 teacher whose tokenizer is laid out like all-mpnet-base-v2's: <s> <pad> </s> <unk>,
    then BERT's 30,522 WordPieces, then <mask> (30,527 ids)."""
    folder = tmp_path_factory.mktemp("mpnet-teacher")
    bert_vocab = AutoTokenizer.from_pretrained(minilm_path()).get_vocab()
    tokens = ["<s>", "<pad>", "</s>", "<unk>"] + sorted(bert_vocab, key=bert_vocab.__getitem__) + ["<mask>"]
    tokenizer = MPNetTokenizer(vocab={t: i for i, t in enumerate(tokens)})
    torch.manual_seed(0)
    labels = {"id2label": {0: "0", 1: "1"}, "label2id": {"0": 0, "1": 1}, "num_labels": 2}
    config = family_config("mpnet", len(tokens), tokenizer.pad_token_id, 2, **labels)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-layer BERT encoder (hidden 32, 4 heads, like the teacher) saved with the bert-base-uncased tokenizer."""
    folder = tmp_path_factory.mktemp("bert-checkpoint")
    torch.manual_seed(1)
    config = BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
    AutoModel.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def test_rows_follow_the_token_strings_and_special_tokens_their_role(mpnet_teacher: Path, bert_checkpoint: Path):
    teacher = load_teacher(str(mpnet_teacher), get_task("sst-2"), CPU)
    tokenizer = load_tokenizer(str(mpnet_teacher))
    spec = StudentSpec(checkpoint=str(bert_checkpoint), checkpoint_layers=2)
    assert student_layer_count(spec) == 2
    student, start = build_student(spec, teacher, tokenizer, [1, 2])
    assert start["layers_kept"] == [2, 3] and start["of_layers"] == 3
    # every id but <unk>: the tokenizer's unknown token is BERT's [UNK] (as in all-mpnet-base-v2), which matches by
    # string, so the unused <unk> row starts at the mean
    assert start["vocabulary"] == {
        "transplanted": True,
        "teacher_tokens": 30527,
        "matched": 30526,
        "coverage": round(30526 / 30527, 6),
    }
    mean = AutoModel.from_pretrained(bert_checkpoint).embeddings.word_embeddings.weight.mean(dim=0)
    assert torch.allclose(
        student.bert.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids("<unk>")], mean
    )
    source = AutoModel.from_pretrained(bert_checkpoint)
    bert = AutoTokenizer.from_pretrained(bert_checkpoint).get_vocab()
    ours, theirs = student.bert.embeddings.word_embeddings.weight, source.embeddings.word_embeddings.weight
    assert ours.shape == (30527, 32) and student.config.vocab_size == 30527
    for mine, other in (
        ("film", "film"),
        ("##ing", "##ing"),
        ("<s>", "[CLS]"),
        ("</s>", "[SEP]"),
        ("<mask>", "[MASK]"),
    ):
        assert torch.equal(ours[tokenizer.convert_tokens_to_ids(mine)], theirs[bert[other]]), mine
    assert student.config.pad_token_id == tokenizer.pad_token_id == 1
    query = student.bert.encoder.layer[0].attention.self.query.weight
    assert torch.equal(query, source.encoder.layer[1].attention.self.query.weight)  # layer 2 of 3 kept first
    batch = tokenizer(["a gripping film", "dull"], padding=True, return_tensors="pt")
    assert student(**batch).logits.shape == (2, 2)


def test_a_tokenizer_that_shares_too_few_tokens_is_refused(bert_checkpoint: Path, tmp_path: Path) -> None:
    roberta = make_family_teacher(tmp_path / "roberta", "roberta")  # byte-level BPE: hardly a WordPiece in common
    teacher = load_teacher(str(roberta), get_task("sst-2"), CPU)
    tokenizer = load_tokenizer(str(roberta))
    match = match_vocabularies(tokenizer, AutoTokenizer.from_pretrained(bert_checkpoint), teacher.config.vocab_size)
    assert match.coverage < 0.95
    with pytest.raises(DistillError, match=r"only [\d,]+ of the teacher's [\d,]+ tokens \(.*%; at least 95% needed"):
        build_student(StudentSpec(checkpoint=str(bert_checkpoint)), teacher, tokenizer, [1, 2])
    with pytest.raises(DistillError, match="has 3 layers; cannot keep 4 of them"):
        student_layer_count(StudentSpec(checkpoint=str(bert_checkpoint), checkpoint_layers=4))


def test_distill_from_a_transplanted_checkpoint_reports_the_fitting(
    mpnet_teacher: Path, bert_checkpoint: Path, tmp_path: Path
) -> None:
    config = DistillConfig(
        teacher=str(mpnet_teacher),
        train=sst2_rows(tmp_path / "train.tsv"),
        task="sst-2",
        output_dir=tmp_path / "student",
        student=StudentSpec(checkpoint=str(bert_checkpoint), checkpoint_layers=2),
        stage1_epochs=1,
        stage2_epochs=1,
        batch_size=4,
        device="cpu",
    )
    report = distill(config)
    assert report["student"]["layers"] == 2 and report["student"]["checkpoint_start"]["vocabulary"]["matched"] == 30526
    assert all(v == v for stage in report["stages"] for v in stage["loss_history"][-1].values())  # finite, not NaN
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student")
    assert reloaded.config.vocab_size == 30527 and reloaded.config.num_hidden_layers == 2
    assert (
        AutoTokenizer.from_pretrained(tmp_path / "student").get_vocab()
        == load_tokenizer(str(mpnet_teacher)).get_vocab()
    )
