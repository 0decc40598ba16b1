"""Masked-LM candidates for single-piece words, batched across many sentences.

The reference ran one forward pass per word at batch size 1 and computed vocabulary logits at every
position. Here all masked copies of a chunk of sentences are sorted by length, padded per batch only,
run under ``torch.inference_mode`` and, where the model's MLM head can be split off, the vocabulary
projection is applied only at the mask positions (one row per copy instead of one per token).

With ``bf16`` the encoder runs with bf16 weights (a copy made on first use; measured 1.3x faster than bf16
autocast on an AMX CPU and 4-7% on an AVX512-BF16 one, bench/results/precision_bench/) and the MLM head in
fp32 on the mask rows: the head is a few percent of the work, and fp32 vocabulary scores keep near-ties at the
K-th place ordered as in fp32 (see docs/precision.md). A model whose head cannot be split off runs whole under
bf16 autocast. A BERT folder runs on bert_mlm.py's plain modules (no transformers import), whose bf16 pass
computes the last layer at the mask rows only. Without ``bf16`` nothing differs from the fp32 path, so fp32
output stays byte-identical.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Encoding

from shared.model_refs import missing_local_model
from shared.settings import get_settings
from workers.augment.bert_mlm import TokenizerFacts, load_plain_bert
from workers.device_setup import configure_cuda_attention, resolve_device
from workers.padding import pad_rows

#: Model types whose position ids start after the padding id (so ``pad_token_id + 1`` positions are never used).
OFFSET_POSITIONS = frozenset(
    {"roberta", "roberta-prelayernorm", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "mpnet",
     "longformer", "ibert", "xmod", "luke"}
)  # fmt: skip

#: Attribute names under which Hugging Face masked-LM classes keep a position-wise MLM head.
_HEAD_NAMES = ("cls", "lm_head", "predictions")


class ModelLoadError(ValueError):
    """The masked LM (folder or hub id) could not be loaded; the message says which and why."""


@dataclass(frozen=True)
class _Template:
    """Where the special tokens go: prefix A mid B suffix (pair) or prefix A suffix_single."""

    prefix: list[int]
    mid: list[int]
    suffix: list[int]
    suffix_single: list[int]
    type_a: int
    type_b: int


class MaskedLM:
    """A Hugging Face masked LM and its fast tokenizer, answering top-K queries for masked positions."""

    def __init__(self, source: str, device: str = "auto", max_seq_len: int = 512) -> None:
        missing = missing_local_model(source)
        if missing:
            raise ModelLoadError(f"cannot load masked LM {source!r}: {missing}")
        plain = load_plain_bert(source) if get_settings().mlm_plain_bert else None
        model, self.tokenizer = plain if plain is not None else _load_with_transformers(source)
        #: "plain": bert_mlm.py's modules (a local BERT folder); "transformers": its AutoModelForMaskedLM.
        self.loader = "plain" if plain is not None else "transformers"
        self.source = source
        self.device = torch.device(resolve_device(device))
        configure_cuda_attention(self.device)
        self.model: torch.nn.Module = model.to(self.device).eval()
        self.backend = self.tokenizer.backend
        self.mask_id = self.tokenizer.mask_id
        self.pad_id = self.tokenizer.pad_id
        self.max_len = self._max_len(max_seq_len)
        type_vocab = getattr(self.model.config, "type_vocab_size", 0) or 0
        self.use_types = self.tokenizer.uses_token_types and type_vocab >= 2
        self.template = self._template()
        self.base, self.head = _split_head(self.model)
        self._base_bf16: torch.nn.Module | None = None  # see bf16_encoder()
        self.words = self._vocab_words()

    # --- set-up --------------------------------------------------------------------------------------
    def _max_len(self, max_seq_len: int) -> int:
        """The setting, the tokenizer's limit and the model's position count, whichever is least: a tokenizer
        saved without model_max_length must not let a long sentence index past the position table."""
        limits = [max_seq_len]
        model_max = self.tokenizer.model_max_length
        if isinstance(model_max, int) and model_max < 100_000:
            limits.append(model_max)
        positions = position_limit(self.model.config)
        if positions is not None:
            limits.append(positions)
        return min(limits)

    def _template(self) -> _Template:
        """Learn the special-token layout from the tokenizer itself, so any MLM family works."""
        mask = self.tokenizer.mask_token
        pair = self.backend.encode(mask, mask, add_special_tokens=True)
        single = self.backend.encode(mask, add_special_tokens=True)
        ids, types = pair.ids, pair.type_ids if self.use_types else [0] * len(pair.ids)
        first, second = [i for i, t in enumerate(ids) if t == self.mask_id][:2]
        s_ids = single.ids
        s_mask = s_ids.index(self.mask_id)
        return _Template(
            prefix=ids[:first],
            mid=ids[first + 1 : second],
            suffix=ids[second + 1 :],
            suffix_single=s_ids[s_mask + 1 :],
            type_a=types[first],
            type_b=types[second],
        )

    def _vocab_words(self) -> list[str | None]:
        """Candidate surface of every output id; None for continuation pieces, specials, non-letters."""
        size = self.model.get_output_embeddings().weight.shape[0]  # type: ignore[operator]
        tokens = self.tokenizer.tokens(min(size, len(self.tokenizer)))
        special = self.tokenizer.special_ids
        words: list[str | None] = []
        for i, tok in enumerate(tokens):
            word = None
            if tok and i not in special and not tok.startswith("##"):
                bare = tok.lstrip("Ġ▁")  # byte-level / sentencepiece word-start markers
                if bare.isalpha():
                    word = bare
            words.append(word)
        words.extend([None] * (size - len(words)))
        return words

    # --- queries ----------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """WordPieces of each text, without special tokens, with offsets into the original text."""
        return self.backend.encode_batch(list(texts), add_special_tokens=False)

    def build_input(
        self, ids: Sequence[int], position: int, pair_input: bool
    ) -> tuple[list[int], list[int], int] | None:
        """Model input for ``ids`` with ``ids[position]`` masked; None when truncation would cut the mask.

        Pair form ``[CLS] masked [SEP] original [SEP]``; too long: the original half is cut first, then
        the masked half (the reference cut the concatenation at 512, losing the last [SEP]).
        """
        t = self.template
        masked = list(ids)
        masked[position] = self.mask_id
        if pair_input:
            room = self.max_len - len(t.prefix) - len(masked) - len(t.mid) - len(t.suffix)
            if room > 0:
                original = list(ids[:room])
                seq = t.prefix + masked + t.mid + original + t.suffix
                types = [t.type_a] * (len(t.prefix) + len(masked) + len(t.mid)) + [t.type_b] * (
                    len(original) + len(t.suffix)
                )
                return seq, types, len(t.prefix) + position
        cap = self.max_len - len(t.prefix) - len(t.suffix_single)
        if position >= cap:
            return None
        seq = t.prefix + masked[:cap] + t.suffix_single
        return seq, [t.type_a] * len(seq), len(t.prefix) + position

    def top_candidates(
        self,
        jobs: Sequence[tuple[Sequence[int], int]],
        *,
        k: int,
        batch_size: int,
        pair_input: bool = True,
        check_cancel: Callable[[], None] | None = None,
        bf16: bool = False,
    ) -> list[list[str]]:
        """For each (WordPiece ids, position) job: the top-K predictions, non-words dropped, best first;
        ``bf16``: the encoder with bf16 weights (the caller checked that the device has it)."""
        results: list[list[str]] = [[] for _ in jobs]
        inputs = [self.build_input(ids, pos, pair_input) for ids, pos in jobs]
        order = sorted((i for i, x in enumerate(inputs) if x is not None), key=lambda i: len(inputs[i][0]))  # type: ignore[index]
        k = min(k, len(self.words))
        lengths = [len(inputs[i][0]) for i in order]  # type: ignore[index]
        with torch.inference_mode():
            for batch in length_batches(order, lengths, batch_size, equal_lengths=bf16):
                if check_cancel is not None:
                    check_cancel()
                top = self._forward_topk([inputs[i] for i in batch], k, bf16)  # type: ignore[misc]
                for i, ids in zip(batch, top):
                    seen: list[str] = []
                    for token_id in ids:
                        word = self.words[token_id]
                        if word is not None and word not in seen:
                            seen.append(word)
                    results[i] = seen
        return results

    def pad_batch(
        self, batch: Sequence[tuple[Sequence[int], Sequence[int], int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input ids, token type ids, attention mask) of (ids, types, mask position) inputs, padded to the
        batch's own longest input (on the CPU)."""
        ids, attention = pad_rows([seq for seq, _, _ in batch], self.pad_id)
        types, _ = pad_rows([typ for _, typ, _ in batch], 0)
        return ids, types, attention

    def _forward_topk(
        self, batch: list[tuple[list[int], list[int], int]], k: int, bf16: bool = False
    ) -> list[list[int]]:
        ids, types, attention = self.pad_batch(batch)
        positions = torch.tensor([pos for _, _, pos in batch], device=self.device)
        rows = torch.arange(len(batch), device=self.device)
        kwargs = {"input_ids": ids.to(self.device), "attention_mask": attention.to(self.device)}
        if self.use_types:
            kwargs["token_type_ids"] = types.to(self.device)
        base, head = self.base, self.head
        if base is None or head is None:  # no separable head: full logits, then pick the mask rows
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = self.model(**kwargs).logits[rows, positions]
        elif self.last_layer_at_mask_rows(bf16):
            logits = head(self.bf16_encoder()(**kwargs, at=positions)[0].float())
        else:
            encoder = self.bf16_encoder() if bf16 else base
            hidden = encoder(**kwargs)[0][rows, positions]
            logits = head(hidden.float())  # fp32 vocabulary scores (a no-op cast in fp32)
        return logits.float().topk(k, dim=-1).indices.cpu().tolist()

    def last_layer_at_mask_rows(self, bf16: bool) -> bool:
        """Whether a pass runs its last layer at the mask rows only (bert_mlm.py): the plain BERT in bf16; fp32
        keeps the full pass, bit-exact with transformers. The one rule the engine and the benches go by."""
        return bf16 and self.loader == "plain" and self.base is not None and self.head is not None

    def bf16_encoder(self) -> torch.nn.Module:
        """The encoder with bf16 weights, copied once on first use: the fp32 model stays for fp32 jobs of the
        same process (the copy costs half the encoder's fp32 memory)."""
        if self._base_bf16 is None:
            if self.base is None:
                raise ValueError(f"masked LM {self.source!r} has no separable encoder to cast")
            self._base_bf16 = copy.deepcopy(self.base).to(torch.bfloat16).eval()
        return self._base_bf16


def length_batches(
    order: Sequence[int], lengths: Sequence[int], batch_size: int, *, equal_lengths: bool
) -> list[list[int]]:
    """Batches of up to ``batch_size`` items of ``order`` (sorted by length); with ``equal_lengths`` a batch
    never mixes lengths, so no row is padded and each row's bf16 result does not depend on its neighbours."""
    batches: list[list[int]] = []
    for i, (item, length) in enumerate(zip(order, lengths)):
        if not batches or len(batches[-1]) >= batch_size or (equal_lengths and length != lengths[i - 1]):
            batches.append([])
        batches[-1].append(item)
    return batches


def position_limit(config: Any) -> int | None:
    """The longest input the model's position embeddings take (RoBERTa-style models count positions from
    the padding id + 1); None when the config does not say."""
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    if getattr(config, "model_type", None) in OFFSET_POSITIONS:
        positions -= int(getattr(config, "pad_token_id", None) or 0) + 1
    return positions


def _load_with_transformers(source: str) -> tuple[torch.nn.Module, TokenizerFacts]:
    """Any Hugging Face masked LM with a fast tokenizer, through transformers' Auto classes (imported here
    only: the plain BERT path never pays for them)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # our own progress bar is the one the user should see
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForMaskedLM.from_pretrained(source)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load masked LM {source!r}: {exc}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "is_fast", False) or tokenizer.mask_token_id is None:
        raise ModelLoadError(f"masked LM {source!r} needs a fast tokenizer with a mask token")
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    limit = getattr(tokenizer, "model_max_length", None)
    facts = TokenizerFacts(
        backend=backend,
        mask_token=str(tokenizer.mask_token),
        mask_id=int(tokenizer.mask_token_id),
        pad_id=int(tokenizer.pad_token_id or 0),
        model_max_length=limit if isinstance(limit, int) else None,
        special_ids=frozenset(tokenizer.all_special_ids),
        uses_token_types="token_type_ids" in tokenizer.model_input_names,
    )
    return model, facts


def _split_head(model: torch.nn.Module) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
    """(encoder, position-wise MLM head) when the model has both as attributes, else (None, None)."""
    base = getattr(model, str(getattr(model, "base_model_prefix", "")), None)
    if not isinstance(base, torch.nn.Module) or base is model:
        return None, None
    for name in _HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return base, head
    return None, None
