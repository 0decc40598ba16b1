"""The batched masked LM: same answers as a plain one-copy-at-a-time forward pass, any batch size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from workers.augment.mlm import MaskedLM, ModelLoadError, length_batches, resolve_device

SENTENCES = [
    "a charming and often affecting journey .",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's "
    "austere locales .",
    "it 's slow -- very , very slow .",
    "unflinchingly bleak and desperate",
]


@pytest.fixture(scope="module")
def mlm(tiny_mlm_dir: Path) -> MaskedLM:
    return MaskedLM(str(tiny_mlm_dir), device="cpu", max_seq_len=512)


def jobs_for(mlm: MaskedLM) -> list[tuple[list[int], int]]:
    jobs = []
    for enc in mlm.encode(SENTENCES):
        jobs.extend((enc.ids, i) for i in range(len(enc.ids)))
    return jobs


@pytest.fixture(scope="module")
def reference(tiny_mlm_dir: Path) -> tuple[Any, Any]:
    """transformers' own BertForMaskedLM and tokenizer of the same folder: the reference answers."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    return AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval(), AutoTokenizer.from_pretrained(tiny_mlm_dir)


def naive_top(reference: tuple[Any, Any], ids: list[int], pos: int, k: int, pair: bool) -> list[str]:
    """The reference way: one copy, full vocabulary logits at every position, full sort, then filter."""
    model, tok = reference
    masked = list(ids)
    masked[pos] = tok.mask_token_id
    seq = [tok.cls_token_id, *masked, tok.sep_token_id]
    types = [0] * len(seq)
    if pair:
        seq += [*ids, tok.sep_token_id]
        types += [1] * (len(ids) + 1)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([seq]), token_type_ids=torch.tensor([types])).logits[0, pos + 1]
    tokens = tok.convert_ids_to_tokens(torch.argsort(logits, descending=True)[:k].tolist())
    return [t for t in tokens if not t.startswith("##") and t.isalpha() and t not in tok.all_special_tokens]


@pytest.mark.parametrize("pair", [True, False])
def test_batched_answers_equal_the_naive_method(mlm: MaskedLM, reference: tuple[Any, Any], pair: bool) -> None:
    jobs = jobs_for(mlm)
    got = mlm.top_candidates(jobs, k=15, batch_size=7, pair_input=pair)
    for (ids, pos), candidates in zip(jobs, got):
        assert candidates == naive_top(reference, ids, pos, 15, pair)


def test_answers_do_not_depend_on_the_batch_size(mlm: MaskedLM) -> None:
    """The same candidates in the same order (the sampler picks by position, so order is part of the answer)."""
    jobs = jobs_for(mlm)
    one = mlm.top_candidates(jobs, k=15, batch_size=1)
    for size in (3, 16, 1000):
        assert mlm.top_candidates(jobs, k=15, batch_size=size) == one


def test_trained_mlm_answers_do_not_depend_on_the_batch_size(minilm3_mlm_dir: Path) -> None:
    """A trained MLM has peaked, near-tied logits that a random one lacks: the ordered answers still agree."""
    rough = MaskedLM(str(minilm3_mlm_dir), device="cpu", max_seq_len=512)
    jobs = jobs_for(rough)
    one = rough.top_candidates(jobs, k=15, batch_size=1)
    assert rough.top_candidates(jobs, k=15, batch_size=32) == one


def test_bf16_answers_are_deterministic_and_do_not_depend_on_the_batch_size(mlm: MaskedLM) -> None:
    """bf16 batches hold one input length each (no padding): every row's answer is the same in any batch."""
    jobs = jobs_for(mlm)
    one = mlm.top_candidates(jobs, k=15, batch_size=1, bf16=True)
    assert mlm.top_candidates(jobs, k=15, batch_size=1, bf16=True) == one
    for size in (3, 16, 1000):
        assert mlm.top_candidates(jobs, k=15, batch_size=size, bf16=True) == one  # order too, not only sets
    fp32 = mlm.top_candidates(jobs, k=15, batch_size=16)
    assert sum(a[0] == b[0] for a, b in zip(one, fp32)) > len(jobs) / 2  # same model: mostly the same best word
    # bf16 ran on a bf16 copy of the encoder; the fp32 model (and its fp32 answers) are untouched by it
    assert {p.dtype for p in mlm.bf16_encoder().parameters()} == {torch.bfloat16}
    assert {p.dtype for p in mlm.model.parameters()} == {torch.float32}
    assert mlm.top_candidates(jobs, k=15, batch_size=16) == fp32


def test_equal_length_batches_never_mix_lengths() -> None:
    order, lengths = [4, 2, 0, 1, 3], [5, 5, 5, 7, 9]
    assert length_batches(order, lengths, 2, equal_lengths=True) == [[4, 2], [0], [1], [3]]
    assert length_batches(order, lengths, 2, equal_lengths=False) == [[4, 2], [0, 1], [3]]


def test_candidates_are_whole_alphabetic_words(mlm: MaskedLM) -> None:
    for candidates in mlm.top_candidates(jobs_for(mlm), k=50, batch_size=64):
        assert len(candidates) <= 50
        for word in candidates:
            assert word.isalpha() and not word.startswith("##") and word != "[MASK]"


def test_pair_input_layout_and_truncation(tiny_mlm_dir: Path) -> None:
    mlm = MaskedLM(str(tiny_mlm_dir), device="cpu", max_seq_len=12)
    cls, sep, mask = (mlm.backend.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]"))
    seq, types, at = mlm.build_input([5, 6, 7], 1, pair_input=True)  # type: ignore[misc]
    assert seq == [cls, 5, mask, 7, sep, 5, 6, 7, sep] and types == [0] * 5 + [1] * 4 and at == 2
    seq, types, at = mlm.build_input([5, 6, 7], 1, pair_input=False)  # type: ignore[misc]
    assert seq == [cls, 5, mask, 7, sep] and types == [0] * 5 and at == 2
    long = list(range(1000, 1015))  # 15 pieces: the original half goes first, then the masked half is cut
    seq, _, at = mlm.build_input(long, 3, pair_input=True)  # type: ignore[misc]
    assert len(seq) == 12 and seq[0] == cls and seq[-1] == sep and seq[at] == mask
    assert mlm.build_input(long, 11, pair_input=True) is None
    assert mlm.top_candidates([(long, 11)], k=5, batch_size=4) == [[]]


def test_bad_model_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such folder"):
        MaskedLM(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(ModelLoadError, match="cannot load masked LM"):
        MaskedLM(str(tmp_path), device="cpu")  # a folder without a model


def test_auto_device_is_cpu_without_cuda() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


@pytest.fixture(scope="module")
def short_mlm_dir(tmp_path_factory, tiny_mlm_dir: Path) -> Path:
    """A tiny BERT MLM with 32 positions whose tokenizer files name no model_max_length."""
    import json

    from transformers import AutoTokenizer, BertForMaskedLM

    from tests.distill_helpers import tiny_bert_config

    tokenizer = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("short-mlm")
    BertForMaskedLM(tiny_bert_config(64, 2, 2, vocab_size=len(tokenizer), max_positions=32)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("model_max_length", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("plain", [True, False], ids=["plain-bert", "transformers"])
def test_inputs_never_outgrow_the_models_positions(
    short_mlm_dir: Path, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("DISTILLERY_MLM_PLAIN_BERT", "true" if plain else "false")
    get_settings.cache_clear()
    try:
        mlm = MaskedLM(str(short_mlm_dir), device="cpu", max_seq_len=512)
    finally:
        monkeypatch.delenv("DISTILLERY_MLM_PLAIN_BERT")
        get_settings.cache_clear()
    assert mlm.loader == ("plain" if plain else "transformers") and mlm.max_len == 32
    long = " ".join(SENTENCES * 3)
    jobs = [(enc.ids, i) for enc in mlm.encode([long]) for i in range(len(enc.ids))]
    assert len(jobs) > 32
    for pair in (True, False):
        answers = mlm.top_candidates(jobs, k=5, batch_size=8, pair_input=pair)
        assert any(answers[:20]) and not any(answers[32:])  # masks past the positions cannot be asked
