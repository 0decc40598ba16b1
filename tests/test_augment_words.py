"""Word splitting with exact spans in the original text, eligibility and the stop-word list."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.augment.stopwords import DEFAULT_STOP_WORDS, load_stop_words
from workers.augment.words import is_eligible, split_words


@pytest.fixture(scope="module")
def backend(tiny_mlm_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_mlm_dir).backend_tokenizer
    tok.no_truncation()
    tok.no_padding()
    return tok


def words_of(backend, text: str):
    return split_words(text, backend.encode(text, add_special_tokens=False))


def test_basic_tokenizer_rules_with_original_spans(backend) -> None:
    text = "It's  a Café-crème, won't  stop!"
    words = words_of(backend, text)
    assert [w.text for w in words] == ["It", "'", "s", "a", "Café", "-", "crème", ",", "won", "'", "t", "stop", "!"]
    for w in words:
        assert text[w.start : w.end] == w.text


def test_accents_cjk_control_and_emoji_keep_offsets_in_the_original(backend) -> None:
    # The normaliser lower-cases, strips accents, spaces CJK characters and drops control characters,
    # so the normalised text has another length; spans must still point into the original.
    text = "Naïve 中文 \u0007x 😀 ＦＵＬＬ unbelievableness"
    words = words_of(backend, text)
    assert [w.text for w in words] == ["Naïve", "中", "文", "x", "😀", "ＦＵＬＬ", "unbelievableness"]
    for w in words:
        assert text[w.start : w.end] == w.text
    pieces = {w.text: w.num_pieces for w in words}
    assert pieces["Naïve"] == 1 and pieces["unbelievableness"] == 2


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_spans_always_slice_the_original(backend, text: str) -> None:
    previous_end = 0
    for w in words_of(backend, text):
        assert text[w.start : w.end] == w.text and w.text
        assert w.start >= previous_end  # in order, never overlapping
        assert not any(ch in " \t\n\r" for ch in w.text)
        previous_end = w.end


def test_eligibility_is_alphabetic_and_not_a_stop_word() -> None:
    stop = DEFAULT_STOP_WORDS
    assert is_eligible("movie", stop) and is_eligible("Movie", stop) and is_eligible("café", stop)
    for word in ("the", "The", "not", "Not", "no", "nor", "never", "42", "don't", "x1", ",", ""):
        assert not is_eligible(word, stop), word


def test_default_list_keeps_negations_as_stop_words() -> None:
    assert {"not", "no", "nor", "never", "don't", "won't", "isn't", "cannot"} <= DEFAULT_STOP_WORDS
    assert 170 <= len(DEFAULT_STOP_WORDS) <= 200


def test_stop_words_from_a_file_or_none(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("\ufeff# my list\nMovie\n\nfilm\n", encoding="utf-8")
    assert load_stop_words(str(path)) == frozenset({"movie", "film"})
    assert load_stop_words("") == frozenset()
    assert load_stop_words(None) is DEFAULT_STOP_WORDS
    with pytest.raises(FileNotFoundError, match="stop-word file not found"):
        load_stop_words(str(tmp_path / "missing.txt"))


def test_a_stop_word_file_replaced_at_the_same_path_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("movie\n", encoding="utf-8")
    assert load_stop_words(str(path)) == frozenset({"movie"})
    stamp = path.stat().st_mtime_ns
    path.write_text("film\n", encoding="utf-8")
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert load_stop_words(str(path)) == frozenset({"film"})
