"""Words of a text, with their exact character spans, as BERT's basic tokenizer sees them.

The fast tokenizer's normalizer + pre-tokenizer implement the basic tokenizer's rules (split on
whitespace and punctuation, CJK characters apart, control characters dropped). The `tokenizers`
library tracks alignments through normalisation (lower-casing, accent stripping, CJK spacing), so the
offsets it reports point into the ORIGINAL string even when the normalised text has another length.
That lets us replace a word in place and keep every other character byte-exact.

Two word types, one per stage: ``Word`` is what the splitter sees (span + WordPiece range, which decides
MLM vs GloVe and where to mask); ``WordSlot`` is what the sampler draws from (span + candidates, no
tokens). The engine turns each ``Word`` into a ``WordSlot`` once its candidates are known.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from tokenizers import Encoding

#: Where a word's candidates came from; none = not eligible or no candidates.
SlotKind = Literal["mlm", "glove", "none"]


@dataclass(frozen=True)
class Word:
    """One basic-tokenizer word: its span in the original text and its WordPiece token range."""

    start: int
    end: int
    text: str  # exact surface, text[start:end]
    token_start: int  # first WordPiece of the word in the encoding
    token_end: int  # one past its last WordPiece

    @property
    def num_pieces(self) -> int:
        return self.token_end - self.token_start


@dataclass(frozen=True)
class WordSlot:
    """One word of a text and what it may become: the sampler's input, the engine's public answer."""

    start: int  # character span of the word in the original text
    end: int
    word: str  # its exact surface
    kind: SlotKind  # where the candidates came from; none = not eligible / no candidates
    candidates: tuple[str, ...]


def split_words(text: str, encoding: Encoding) -> list[Word]:
    """Group an encoding (made WITHOUT special tokens) into words with character spans in ``text``."""
    words: list[Word] = []
    word_ids = encoding.word_ids
    offsets = encoding.offsets
    position = 0
    for word_id, group in groupby(word_ids):
        size = len(list(group))
        if word_id is not None:
            start = offsets[position][0]
            end = offsets[position + size - 1][1]
            words.append(Word(start, end, text[start:end], position, position + size))
        position += size
    return words


def is_eligible(surface: str, stop_words: Collection[str]) -> bool:
    """TinyBERT's rule: purely alphabetic and not a stop word (compared in lower case)."""
    return surface.isalpha() and surface.lower() not in stop_words
