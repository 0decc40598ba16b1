"""Fitting a pre-trained BERT checkpoint to a teacher as the student's start: its vocabulary, its depth.

A pre-trained small encoder (MiniLM, a general TinyBERT) is a better start than random weights, but it may
have been trained with another tokenizer than the teacher's (MPNet's vocabulary is BERT's WordPieces plus its
own special tokens, in another order) and more layers than the student should have. The student always uses
the teacher's tokenizer, so the checkpoint's word-embedding rows are re-indexed by token string (special tokens
by role: [CLS] for <s>, [SEP] for </s>, ...); teacher tokens the checkpoint lacks start at the mean row. A
subset of its layers is kept by the same uniform map as the teacher-to-student layer map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

#: Tokenizer attributes naming a special token's role; a role's tokens are matched across vocabularies.
SPECIAL_ROLES = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token")


@dataclass(frozen=True)
class VocabularyMatch:
    """For each teacher token id, the checkpoint's id of the same token (-1: the checkpoint lacks it)."""

    rows: list[int]
    teacher_tokens: int  # how many ids the teacher's tokenizer names (its embedding may have spare rows)

    @property
    def matched(self) -> int:
        return sum(1 for r in self.rows if r >= 0)

    @property
    def coverage(self) -> float:
        """Share of the teacher tokenizer's tokens the checkpoint has a row for."""
        return self.matched / max(1, self.teacher_tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "transplanted": True,
            "teacher_tokens": self.teacher_tokens,
            "matched": self.matched,
            "coverage": round(self.coverage, 6),
        }


def match_vocabularies(teacher_tokenizer: Any, checkpoint_tokenizer: Any, rows: int) -> VocabularyMatch:
    """Teacher id -> checkpoint id for the ``rows`` rows of the student's embedding: same token string, or the
    same special-token role."""
    theirs = checkpoint_tokenizer.get_vocab()
    ours = teacher_tokenizer.get_vocab()
    index = [-1] * rows
    for token, tid in ours.items():
        if tid < rows and token in theirs:
            index[tid] = theirs[token]
    for role in SPECIAL_ROLES:
        mine, other = getattr(teacher_tokenizer, role, None), getattr(checkpoint_tokenizer, role, None)
        if mine in ours and other in theirs and ours[mine] < rows:
            index[ours[mine]] = theirs[other]
    return VocabularyMatch(index, teacher_tokens=min(rows, len(ours)))


def transplant_word_embeddings(model: Any, match: VocabularyMatch, pad_token_id: int) -> None:
    """Replace ``model``'s word embeddings by rows indexed by the teacher's token ids (in place); rows of
    tokens the checkpoint lacks start at the mean of its rows."""
    embeddings = model.get_input_embeddings()
    old = embeddings.weight.detach()
    index = torch.tensor(match.rows, dtype=torch.long)
    found = index >= 0
    new = old.mean(dim=0, keepdim=True).repeat(len(match.rows), 1)
    new[found] = old[index[found]]
    model.set_input_embeddings(torch.nn.Embedding.from_pretrained(new, freeze=False, padding_idx=pad_token_id))
    model.config.vocab_size = len(match.rows)
    model.config.pad_token_id = pad_token_id


def keep_layers(model: Any, picked: list[int]) -> None:
    """Keep the checkpoint's layers ``picked`` (1-based, increasing), in place."""
    encoder = model.base_model.encoder
    encoder.layer = torch.nn.ModuleList([encoder.layer[i - 1] for i in picked])
    model.config.num_hidden_layers = len(picked)
