"""The augmentation engine: TinyBERT's method over a whole table, batched and deterministic.

Per chunk of rows: every text is split into words once, the masked copies of all single-piece words
of the chunk go through the MLM in length-sorted batches, all multi-piece words of the chunk are
answered by one GloVe call, then each row's N samples per text column are drawn from a generator
seeded by (seed, global row index, column). Output is therefore byte-identical whatever the chunk
size, the batch size, the shard boundaries (``row_offset``) or the number of processes.

Defects of the reference fixed here: for sentence pairs each text column is augmented on its own
while the other keeps its original text; words are replaced in place (no lower-casing or re-joining).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from shared.dataset_io import DatasetSpec, Table
from shared.job_params import AugmentRunParams
from shared.precision import PrecisionChoice
from shared.settings import Settings, get_settings
from workers.augment.file_cache import LruCache, file_stamp
from workers.augment.glove import GloveIndex, load_glove
from workers.augment.mlm import MaskedLM, resolve_device
from workers.augment.sampler import draw_samples, restore_case, seed_rng
from workers.augment.stopwords import load_stop_words
from workers.augment.words import SlotKind, WordSlot, is_eligible, split_words
from workers.precision import resolve_precision


class AugmentCancelled(Exception):
    """Raised between batches when the caller's should_stop() says the job was cancelled."""


@dataclass(frozen=True)
class AugmentParams:
    """Everything that decides the output of an augmentation run."""

    n: int
    k: int
    p: float
    seed: int
    batch_size: int
    pair_input: bool
    mlm_model: str
    glove: str
    device: str
    stop_words: str | None
    precision: str = "fp32"  # auto, fp32 or bf16: resolved on the MLM's device by ``get_augmenter``

    def __post_init__(self) -> None:
        problems = []
        if self.n < 0:
            problems.append(f"n must be >= 0, got {self.n}")
        if self.k < 1:
            problems.append(f"k must be >= 1, got {self.k}")
        if not 0.0 <= self.p <= 1.0:
            problems.append(f"p must be between 0 and 1, got {self.p}")
        if self.seed < 0:
            problems.append(f"seed must be >= 0, got {self.seed}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_run(cls, run: AugmentRunParams, device: str) -> AugmentParams:
        """The engine's parameters for resolved run (or job) parameters, on ``device``."""
        return cls(**{name: getattr(run, name) for name in AugmentRunParams.model_fields}, device=device)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> AugmentParams:
        """Defaults from settings (through ``AugmentRunParams``; the device too); ``None`` overrides are ignored."""
        s = settings or get_settings()
        device = overrides.pop("device", None) or s.device
        return cls.from_run(AugmentRunParams.resolve(s, **overrides), device)


class Augmenter:
    """Augments tables with one set of parameters; the heavy MLM and GloVe objects are shared."""

    def __init__(
        self,
        params: AugmentParams,
        mlm: MaskedLM,
        glove: GloveIndex,
        stop_words: frozenset[str],
        *,
        chunk_rows: int | None = None,
        overlap_glove: bool | None = None,
        precision: PrecisionChoice | None = None,
    ) -> None:
        self.params = params
        #: What the MLM runs in and why (CLI summary, job result); None: resolved now on the MLM's device.
        self.precision = precision or resolve_precision(params.precision, mlm.device)
        self.mlm = mlm
        self.glove = glove
        self.stop_words = stop_words
        self.chunk_rows = max(1, chunk_rows or get_settings().aug_chunk_rows)
        self.overlap_glove = mlm.device.type == "cuda" if overlap_glove is None else overlap_glove
        self.stats: dict[str, int] = {"rows_in": 0, "rows_out": 0, "replaced_mlm": 0, "replaced_glove": 0}

    # --- candidates --------------------------------------------------------------------------------------
    def candidates_for_texts(
        self, texts: Sequence[str], *, should_stop: Callable[[], bool] | None = None
    ) -> list[list[WordSlot]]:
        """Every word of every text with its candidate set; MLM masked copies batched across texts."""
        encodings = self.mlm.encode(texts)
        jobs: dict[tuple[tuple[int, ...], int], int] = {}  # identical (sentence, position) asked once
        plan: list[list[tuple[Any, SlotKind, Any]]] = []  # per text: (word, kind, job index or glove key)
        glove_words: set[str] = set()
        for text, encoding in zip(texts, encodings):
            ids = tuple(encoding.ids)
            entries: list[tuple[Any, SlotKind, Any]] = []
            for word in split_words(text, encoding):
                if not is_eligible(word.text, self.stop_words):
                    entries.append((word, "none", None))
                elif word.num_pieces == 1:
                    key = (ids, word.token_start)
                    entries.append((word, "mlm", jobs.setdefault(key, len(jobs))))
                else:
                    lower = word.text.lower()
                    glove_words.add(lower)
                    entries.append((word, "glove", lower))
            plan.append(entries)

        def search() -> dict[str, list[str]]:
            return self.glove.neighbours(sorted(glove_words), self.params.k) if glove_words else {}

        # on a GPU the CPU would wait for the MLM: the GloVe search runs meanwhile (same result either way)
        pending = _background().submit(search) if self.overlap_glove and glove_words else None
        predictions = self.mlm.top_candidates(
            list(jobs),
            k=self.params.k,
            batch_size=self.params.batch_size,
            pair_input=self.params.pair_input,
            check_cancel=_canceller(should_stop),
            bf16=self.precision.bf16,
        )
        neighbours = pending.result() if pending is not None else search()

        result: list[list[WordSlot]] = []
        for entries in plan:
            slots = []
            for word, kind, ref in entries:
                if kind == "mlm":
                    candidates = tuple(predictions[ref])
                elif kind == "glove":
                    candidates = tuple(restore_case(word.text, c) for c in neighbours.get(ref, []))
                else:
                    candidates = ()
                slots.append(WordSlot(word.start, word.end, word.text, kind if candidates else "none", candidates))
            result.append(slots)
        return result

    # --- rows ---------------------------------------------------------------------------------------------
    def augment_rows(
        self,
        table: Table,
        spec: DatasetSpec,
        *,
        row_offset: int = 0,
        on_progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[list[Any]]:
        """Output rows for all of table.rows: each input row's original first, then its augmented rows
        (each changes exactly one text column), grouped per input row in input order, duplicates dropped.
        Row i's draws are seeded from (params.seed, row_offset + i, column), so any split into shards or
        batches gives byte-identical concatenated output."""
        text_idx = [table.column_index(c) for c in spec.text_columns]
        check = _canceller(should_stop)
        out: list[list[Any]] = []
        for start in range(0, len(table.rows), self.chunk_rows):
            check()
            chunk = table.rows[start : start + self.chunk_rows]
            texts = [str(row[i]) for row in chunk for i in text_idx]
            slots = self.candidates_for_texts(texts, should_stop=should_stop)
            for r, row in enumerate(chunk):
                row_slots = slots[r * len(text_idx) : (r + 1) * len(text_idx)]
                out.extend(self._augment_row(row, text_idx, row_slots, row_offset + start + r))
            self.stats["rows_in"] += len(chunk)
            if on_progress is not None:
                on_progress(len(chunk))
        return out

    def _augment_row(
        self, row: list[Any], text_idx: list[int], row_slots: list[list[WordSlot]], global_row: int
    ) -> list[list[Any]]:
        rows = [list(row)]
        seen = {tuple(str(row[i]) for i in text_idx)}
        for column, (cell, slots) in enumerate(zip(text_idx, row_slots)):
            text = str(row[cell])
            rng = seed_rng(self.params.seed, global_row, column)
            for sample in draw_samples(text, slots, n=self.params.n, p=self.params.p, rng=rng):
                new_row = list(row)
                new_row[cell] = sample.text
                key = tuple(str(new_row[i]) for i in text_idx)
                if key in seen:
                    continue
                seen.add(key)
                rows.append(new_row)
                self.stats["replaced_mlm"] += sample.replaced["mlm"]
                self.stats["replaced_glove"] += sample.replaced["glove"]
        self.stats["rows_out"] += len(rows)
        return rows


def _canceller(should_stop: Callable[[], bool] | None) -> Callable[[], None]:
    def check() -> None:
        if should_stop is not None and should_stop():
            raise AugmentCancelled("augmentation cancelled")

    return check


_lock = threading.Lock()
#: Loaded MLMs by (source, device, length, files' stamp): a folder replaced in place is loaded anew.
_mlms: LruCache[MaskedLM] = LruCache(2)


def get_mlm(source: str, device: str = "auto", max_seq_len: int | None = None) -> MaskedLM:
    """The masked LM for (source, device), loaded once per process (again when its files change)."""
    length = max_seq_len or get_settings().mlm_max_seq_len
    where = resolve_device(device)
    with _lock:
        return _mlms.get((source, where, length, file_stamp(source)), lambda: MaskedLM(source, where, length))


def get_augmenter(params: AugmentParams) -> Augmenter:
    """Per-process cache: the MLM (by mlm_model, device) and GloVe index (by source) are loaded once and
    reused by later calls/shards with other n/k/p/seed. Each call returns a fresh Augmenter (own stats).
    On a GPU, a job that kept the CPU's default MLM batch size gets the GPU's (the output does not depend
    on the batch size). The precision is resolved before anything loads: an explicit bf16 on a device
    without it is a ``PrecisionError`` (a ValueError) naming the device."""
    precision = resolve_precision(params.precision, resolve_device(params.device))
    mlm = get_mlm(params.mlm_model, params.device)
    glove = load_glove(params.glove)
    stop_words = load_stop_words(params.stop_words)
    return Augmenter(params_for(params, mlm), mlm, glove, stop_words, precision=precision)


def params_for(params: AugmentParams, mlm: MaskedLM) -> AugmentParams:
    """``params`` with the GPU's default MLM batch size when the MLM is on a GPU and the job kept the CPU's."""
    s = get_settings()
    if mlm.device.type == "cuda" and params.batch_size == s.aug_batch_size:
        return replace(params, batch_size=s.aug_batch_size_gpu)
    return params


_pool: list[ThreadPoolExecutor] = []


def _background() -> ThreadPoolExecutor:
    """One helper thread per process for the GloVe search that overlaps the MLM."""
    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(1, thread_name_prefix="glove"))
        return _pool[0]


__all__ = ["AugmentCancelled", "AugmentParams", "Augmenter", "WordSlot", "get_augmenter", "get_mlm"]
