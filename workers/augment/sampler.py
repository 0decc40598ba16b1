"""Drawing the N augmented versions of one text from its words' candidates.

Replacement happens inside the original string (spans from the word splitter), so every character
that is not part of a replaced word stays byte-exact: no lower-casing, no re-joining of tokens. The
random generator is created by the caller from (seed, row, column), which makes the draws of a row
independent of batch sizes, chunking and processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workers.augment.words import WordSlot


@dataclass(frozen=True)
class Sample:
    """One augmented text and how many words it changed, per candidate source."""

    text: str
    replaced: dict[str, int]


def restore_case(word: str, candidate: str) -> str:
    """Title-case a candidate when the word it replaces is title-case (GloVe vectors are lower-case)."""
    if word.istitle() and candidate[:1].islower():
        return candidate[:1].upper() + candidate[1:]
    return candidate


def seed_rng(seed: int, row: int, column: int) -> np.random.Generator:
    """The generator for one text: a function of (seed, global row index, text column index) only."""
    return np.random.default_rng([seed, row, column])


def draw_samples(text: str, slots: Sequence[WordSlot], *, n: int, p: float, rng: np.random.Generator) -> list[Sample]:
    """N samples; in each, every word that has candidates is replaced with probability p by a uniform
    candidate choice (slots of kind "none" take no draws).

    Candidates are drawn from their sorted order, so near-tie score swaps between two runs (batch
    shapes change floating-point rounding) cannot change which word a draw picks. Samples equal to
    the original are kept here; the caller drops duplicates.
    """
    words = [slot for slot in slots if slot.kind != "none"]
    if n <= 0 or not words:
        return []
    pools = [sorted(w.candidates) for w in words]
    replace = rng.random((n, len(words))) < p
    picks = rng.random((n, len(words)))
    samples = []
    for i in range(n):
        parts: list[str] = []
        replaced = {"mlm": 0, "glove": 0}
        cursor = 0
        for j, word in enumerate(words):
            if not replace[i, j]:
                continue
            pool = pools[j]
            choice = pool[min(int(picks[i, j] * len(pool)), len(pool) - 1)]
            if choice == word.word:
                continue
            parts.append(text[cursor : word.start])
            parts.append(choice)
            cursor = word.end
            replaced[word.kind] += 1
        parts.append(text[cursor:])
        samples.append(Sample("".join(parts), replaced))
    return samples
