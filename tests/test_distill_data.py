"""Reading, tokenising and batching: length buckets, dynamic padding, re-read train sources, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from shared.dataset_io import DatasetError
from shared.tasks import get_task
from tests.distill_helpers import glue_sample, minilm_path
from workers.distill.data import (
    ExampleEncoder,
    collate,
    length_bucketed_batches,
    resolve_train_files,
    sorted_batches,
)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_path())


def test_encodes_glue_pairs_with_labels(tokenizer, synth_glue_dir: Path, tmp_path: Path) -> None:
    path = glue_sample(synth_glue_dir, "RTE", "train", 20, tmp_path / "rte.tsv")
    examples = ExampleEncoder(tokenizer, get_task("rte"), 128).encode_file(path, require_labels=True)
    assert len(examples) == 20
    assert all(e.label in (0, 1) for e in examples)
    e = examples[0]
    assert e.input_ids[0] == tokenizer.cls_token_id and e.input_ids.count(tokenizer.sep_token_id) == 2
    assert set(e.token_type_ids) == {0, 1} and len(e) <= 128


def test_sts_b_labels_are_floats(tokenizer, synth_glue_dir: Path, tmp_path: Path) -> None:
    path = glue_sample(synth_glue_dir, "STS-B", "train", 5, tmp_path / "stsb.tsv")
    examples = ExampleEncoder(tokenizer, get_task("sts-b"), 64).encode_file(path, require_labels=True)
    assert all(isinstance(e.label, float) and 0 <= e.label <= 5 for e in examples)


def test_truncates_to_max_len(tokenizer, synth_glue_dir: Path, tmp_path: Path) -> None:
    path = glue_sample(synth_glue_dir, "SST-2", "train", 200, tmp_path / "sst.tsv")
    examples = ExampleEncoder(tokenizer, get_task("sst-2"), 16).encode_file(path)
    assert max(len(e) for e in examples) == 16


def test_distillation_data_needs_no_label_column(tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.tsv"
    path.write_text("sentence\na fine film\nawful\n")
    examples = ExampleEncoder(tokenizer, get_task("sst-2"), 64).encode_file(path)
    assert [e.label for e in examples] == [None, None]
    with pytest.raises(DatasetError, match="label"):
        ExampleEncoder(tokenizer, get_task("sst-2"), 64).encode_file(path, require_labels=True)


def test_empty_and_bad_files_name_the_problem(tokenizer, tmp_path: Path) -> None:
    enc = ExampleEncoder(tokenizer, get_task("sst-2"), 64)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="empty"):
        enc.encode_file(empty)
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\ngood\t1\nbad\tmaybe\n")
    with pytest.raises(DatasetError, match=r"row 2.*'label'"):
        enc.encode_file(bad)
    with pytest.raises(DatasetError, match="no such file"):
        enc.encode_file(tmp_path / "missing.tsv")


def test_callable_source_is_reread_and_files_cached(tokenizer, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "0.tsv").write_text("sentence\tlabel\nfirst shard\t1\n")
    source = lambda: sorted(shards.glob("*.tsv"))  # noqa: E731
    enc = ExampleEncoder(tokenizer, get_task("sst-2"), 64)
    assert len(enc.encode_files(resolve_train_files(source))) == 1
    (shards / "1.tsv").write_text("sentence\tlabel\nsecond shard\t0\nand more\t1\n")
    assert len(enc.encode_files(resolve_train_files(source))) == 3
    assert resolve_train_files("a.tsv") == [Path("a.tsv")]
    assert resolve_train_files(["a.tsv", "b.tsv"]) == [Path("a.tsv"), Path("b.tsv")]


def test_bucketed_batches_cover_everything_once_and_are_reproducible() -> None:
    lengths = [(i * 37) % 60 + 3 for i in range(1000)]
    batches = length_bucketed_batches(lengths, 32, seed=1, epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert batches == length_bucketed_batches(lengths, 32, seed=1, epoch=0)
    assert batches != length_bucketed_batches(lengths, 32, seed=1, epoch=1)

    # bucketing: far less padding than random batches
    def padded(bs):
        return sum(len(b) * max(lengths[i] for i in b) for b in bs)

    plain = length_bucketed_batches(lengths, 32, seed=1, epoch=0, bucket=False)
    assert padded(batches) < 0.7 * padded(plain)


def test_collate_pads_to_the_longest_in_the_batch(tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "s.tsv"
    path.write_text("sentence\tlabel\nshort\t1\na rather longer sentence here\t0\n")
    examples = ExampleEncoder(tokenizer, get_task("sst-2"), 64).encode_file(path)
    batch = collate(examples, tokenizer.pad_token_id, torch.device("cpu"))
    width = max(len(e) for e in examples)
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"].sum().item() == sum(len(e) for e in examples)
    assert collate(examples, 0, torch.device("cpu"), pad_to=64)["input_ids"].shape == (2, 64)
    assert sorted(i for b in sorted_batches(examples, 1) for i in b) == [0, 1]
