"""A faithful naive implementation of TinyBERT's reference ``data_augmentation.py`` method, for benchmarks.

Kept in bench/ only, as the baseline that ``augment_bench.py`` compares Distillery's engine against. It does
what DESIGN.md says the reference does, at the reference's cost:

* words from BERT's python basic tokenizer (lower-cased); eligible when purely alphabetic and not a stop
  word (the same stop-word list as ours, so both methods pick the same words);
* a single-piece word: the sentence is re-tokenized, that piece becomes [MASK], the input is
  ``[CLS] masked [SEP] original [SEP]`` (segments 0 then 1), ONE forward pass at batch size 1 with the
  vocabulary logits at every position, a full ``argsort`` of the mask row, top-K, ``##`` pieces dropped;
* a multi-piece word: a float64 dot product with every GloVe row and a full ``argsort``, the word itself
  excluded (``-inf``), top-K; a word missing from GloVe has no candidates (the word itself stays);
* N samples: each eligible word replaced with probability p by a uniform choice among its candidates,
  tokens re-joined with spaces, duplicates dropped, the original first.

Its output keeps the reference's known defects (lower-cased, re-joined text); only its candidate sets and
its speed are compared.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import BertForMaskedLM
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy


def _is_valid(word: str) -> bool:
    """The reference's eligibility test: a non-empty, purely alphabetic token."""
    return len(word) > 0 and word.isalpha()


@dataclass
class PartTiming:
    """Seconds spent in one part, and how many times it ran (for per-look-up rates)."""

    seconds: float = 0.0
    calls: int = 0

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds += time.perf_counter() - start
        self.calls += 1


@dataclass
class ReferenceTimings:
    """The masked LM's and GloVe's timings, and the words looked up in GloVe."""

    mlm: PartTiming = field(default_factory=PartTiming)
    glove: PartTiming = field(default_factory=PartTiming)
    glove_words: list[str] = field(default_factory=list)


class ReferenceAugmenter:
    """TinyBERT's DataAugmentor, rewritten plainly (no batching, no caching, full sorts)."""

    def __init__(
        self,
        model_dir: str | Path,
        glove_words: list[str],
        glove_vectors: np.ndarray,
        stop_words: frozenset[str],
        *,
        k: int = 15,
        n: int = 20,
        p: float = 0.4,
        seed: int = 42,
    ) -> None:
        self.tokenizer = BertTokenizerLegacy(str(Path(model_dir) / "vocab.txt"), do_lower_case=True)
        self.model = BertForMaskedLM.from_pretrained(str(model_dir)).eval()
        self.stop_words = stop_words
        self.M, self.N, self.p = k, n, p
        self.random = random.Random(seed)
        # GloVe as the reference prepares it: word->row dict, float64 matrix, each row divided by its norm.
        self.vocab = {w: i for i, w in enumerate(glove_words)}
        self.ids_to_tokens = list(glove_words)
        emb_matrix = np.asarray(glove_vectors, dtype=np.float64)
        d = np.sum(emb_matrix**2, 1) ** 0.5
        d[d == 0] = 1.0
        self.emb_norm = (emb_matrix.T / d).T
        self.timings = ReferenceTimings()

    # --- candidates ---------------------------------------------------------------------------------------
    def _word_distance(self, word: str) -> list[str]:
        """K nearest GloVe words: full dot product, the word itself set to -inf, full sort."""
        with self.timings.glove.timed():
            result: list[str] = []
            if word in self.vocab:
                word_idx = self.vocab[word]
                word_emb = self.emb_norm[word_idx]
                dist = np.dot(self.emb_norm, word_emb.T)
                dist[word_idx] = -np.inf
                candidate_ids = np.argsort(-dist)[: self.M]
                result = [self.ids_to_tokens[i] for i in candidate_ids][: self.M]
        self.timings.glove_words.append(word)
        return result

    def _masked_language_model(self, sent: str, word_pieces: list[str], mask_id: int) -> list[str]:
        """One forward pass at batch size 1 with ``[CLS] masked [SEP] original [SEP]``, full sort of the row."""
        with self.timings.mlm.timed():
            tokenized_text = ["[CLS]"] + self.tokenizer.tokenize(sent)
            tokenized_len = len(tokenized_text)
            tokenized_text = word_pieces + tokenized_text[1:] + ["[SEP]"]
            tokenized_text = tokenized_text[:512]
            token_ids = self.tokenizer.convert_tokens_to_ids(tokenized_text)
            segments_ids = [0] * (tokenized_len + 1) + [1] * (len(tokenized_text) - tokenized_len - 1)
            with torch.no_grad():
                predictions = self.model(
                    input_ids=torch.tensor([token_ids]), token_type_ids=torch.tensor([segments_ids])
                ).logits
            word_candidates = torch.argsort(predictions[0, mask_id], descending=True)[: self.M].tolist()
            tokens = self.tokenizer.convert_ids_to_tokens(word_candidates)
        return [t for t in tokens if not t.startswith("##")]

    def _word_augment(self, sentence: str, mask_token_idx: int, mask_token: str) -> tuple[str, list[str]]:
        """('mlm' or 'glove', candidates) for the word at basic-token index ``mask_token_idx``."""
        word_pieces = ["[CLS]"] + self.tokenizer.tokenize(sentence) + ["[SEP]"]
        word_piece_ids: list[int] = []
        token_idx = -1
        for i in range(1, len(word_pieces) - 1):
            if not word_pieces[i].startswith("##"):
                token_idx += 1
                if token_idx < mask_token_idx:
                    word_piece_ids = []
                elif token_idx == mask_token_idx:
                    word_piece_ids = [i]
                else:
                    break
            else:
                word_piece_ids.append(i)
        if len(word_piece_ids) == 1:
            word_pieces[word_piece_ids[0]] = "[MASK]"
            return "mlm", self._masked_language_model(sentence, word_pieces, word_piece_ids[0])
        return "glove", self._word_distance(mask_token)

    def candidates(self, sentence: str) -> tuple[list[str], dict[int, tuple[str, list[str]]]]:
        """The basic-tokenizer words and, per eligible word index, (kind, candidates)."""
        tokens = self.tokenizer.basic_tokenizer.tokenize(sentence)
        found: dict[int, tuple[str, list[str]]] = {}
        for idx, word in enumerate(tokens):
            if _is_valid(word) and word not in self.stop_words:
                found[idx] = self._word_augment(sentence, idx, word)
        return tokens, found

    # --- sampling -----------------------------------------------------------------------------------------
    def augment(self, sentence: str) -> list[str]:
        """The original sentence, then up to N distinct augmented ones (lower-cased, space-joined)."""
        tokens, found = self.candidates(sentence)
        candidate_words = {idx: (cands or [tokens[idx]]) for idx, (_, cands) in found.items()}
        candidate_sents = [sentence]
        for _ in range(self.N):
            new_sent = list(tokens)
            for idx, words in candidate_words.items():
                candidate_word = self.random.choice(words)
                if self.random.random() < self.p:
                    new_sent[idx] = candidate_word
            joined = " ".join(new_sent)
            if joined not in candidate_sents:
                candidate_sents.append(joined)
        return candidate_sents
