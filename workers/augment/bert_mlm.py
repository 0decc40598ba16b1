"""A BERT masked LM and its tokenizer from a local folder in plain torch and ``tokenizers``, without transformers.

Why: importing transformers' model and tokenizer classes costs every augmentation process 3-4 s of start-up
(its fp8/deepgemm integrations pull in torch's compiler stack, its losses scipy), more than the MLM itself
needs for a few hundred rows (docs/precision.md). A BERT folder (``model_type`` bert, ``tokenizer.json``,
``model.safetensors``) is therefore run by the modules below, which repeat transformers' BERT forward pass
operation for operation (same layers, same attention call and mask), so the states and candidates are the same
bit for bit (tests/test_augment_bert_mlm.py compares the two). One addition, used by the bf16 path only (fp32
output stays byte-identical): ``at`` runs the last layer at the mask rows alone, since the MLM reads no other
row of it (1/layers of the work). Anything else returns None from ``load_plain_bert``
and is loaded by transformers (``mlm.py``): other families, other activations or position embeddings, a
checkpoint whose weights do not match this layout exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn
from torch.nn import functional as F

#: The files a folder needs for the plain path.
PLAIN_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")
#: Tokenizer classes whose inputs carry token types, as transformers' BERT tokenizers declare.
BERT_TOKENIZERS = ("BertTokenizer", "BertTokenizerFast")


@dataclass(frozen=True)
class BertShape:
    """The config.json fields the forward pass reads."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertShape | None:
        """The shape of a plain BERT masked LM; None for anything this module does not reproduce."""
        plain = (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and not config.get("is_decoder", False)
            and not config.get("add_cross_attention", False)
            and config.get("tie_word_embeddings", True)
            and config.get("chunk_size_feed_forward", 0) == 0
        )
        if not plain:
            return None
        try:
            return cls(**{name: config[name] for name in cls.__dataclass_fields__ if name != "pad_token_id"},
                       pad_token_id=config.get("pad_token_id") or 0)  # fmt: skip
        except KeyError:
            return None


class BertEmbeddings(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(s.vocab_size, s.hidden_size, padding_idx=s.pad_token_id)
        self.position_embeddings = nn.Embedding(s.max_position_embeddings, s.hidden_size)
        self.token_type_embeddings = nn.Embedding(s.type_vocab_size, s.hidden_size)
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(positions)
        return self.LayerNorm(embeddings)


class BertSelfAttention(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.head_size = s.hidden_size // s.num_attention_heads
        self.query = nn.Linear(s.hidden_size, s.hidden_size)
        self.key = nn.Linear(s.hidden_size, s.hidden_size)
        self.value = nn.Linear(s.hidden_size, s.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor) -> torch.Tensor:
        """Attention of ``queries`` (``hidden`` itself, or some of its rows) over every row of ``hidden``."""
        q = self.query(queries).view(*queries.shape[:-1], -1, self.head_size).transpose(1, 2)
        k = self.key(hidden).view(*hidden.shape[:-1], -1, self.head_size).transpose(1, 2)
        v = self.value(hidden).view(*hidden.shape[:-1], -1, self.head_size).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.head_size**-0.5)
        return out.transpose(1, 2).contiguous().reshape(*queries.shape[:-1], -1).contiguous()


class BertResidual(nn.Module):
    """dense, then LayerNorm of the sum with the block's input (BertSelfOutput and BertOutput alike)."""

    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(hidden) + residual)


class BertAttention(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.self = BertSelfAttention(s)
        self.output = BertResidual(s.hidden_size, s.hidden_size, s.layer_norm_eps)


class BertIntermediate(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.dense = nn.Linear(s.hidden_size, s.intermediate_size)


class BertLayer(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.attention = BertAttention(s)
        self.intermediate = BertIntermediate(s)
        self.output = BertResidual(s.intermediate_size, s.hidden_size, s.layer_norm_eps)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The layer's output for every row, or with ``queries`` (rows of ``hidden``, ``[B, Q, D]``) for those
        rows only: every key and value, but the query, attention output and feed-forward of those rows."""
        queries = hidden if queries is None else queries
        attended = self.attention.output(self.attention.self(hidden, mask, queries), queries)
        return self.output(F.gelu(self.intermediate.dense(attended)), attended)


class BertEncoderLayers(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(s) for _ in range(s.num_hidden_layers))


class BertEncoder(nn.Module):
    """Embeddings and layers: ``forward`` returns ``(last hidden state,)`` like transformers' BertModel."""

    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(s)
        self.encoder = BertEncoderLayers(s)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        at: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor]:
        """``at`` (one position per input): the last layer runs for that row only and the result is ``[B, D]``,
        the states there (the MLM needs no other row of the last layer: about 1/layers of the work saved)."""
        hidden = self.embeddings(input_ids, token_type_ids)
        mask = _key_mask(attention_mask, hidden.shape[1])
        layers: list[BertLayer] = list(self.encoder.layer)  # type: ignore[arg-type]
        for layer in layers if at is None else layers[:-1]:
            hidden = layer(hidden, mask)
        if at is not None:
            rows = hidden[torch.arange(hidden.shape[0], device=hidden.device), at][:, None, :]
            key_mask = None if mask is None else mask[:, :, :1, :]
            return (layers[-1](hidden, key_mask, rows)[:, 0],)
        return (hidden,)


def _key_mask(attention_mask: torch.Tensor | None, length: int) -> torch.Tensor | None:
    """transformers' SDPA mask for a bidirectional encoder: None without padding, else a boolean
    ``[B, 1, L, L]`` that lets every query see the real keys."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    keys = attention_mask.bool()[:, None, None, :]
    return keys.expand(attention_mask.shape[0], 1, length, length)


class BertPredictionTransform(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.dense = nn.Linear(s.hidden_size, s.hidden_size)
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)


class BertPredictions(nn.Module):
    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.transform = BertPredictionTransform(s)
        self.decoder = nn.Linear(s.hidden_size, s.vocab_size)
        self.bias = self.decoder.bias  # the checkpoint's cls.predictions.bias, as in transformers


class BertMLMHead(nn.Module):
    """The position-wise MLM head (``cls`` in transformers): vocabulary scores of hidden states."""

    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.predictions = BertPredictions(s)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        t = self.predictions.transform
        return self.predictions.decoder(t.LayerNorm(F.gelu(t.dense(hidden))))


class PlainBertMLM(nn.Module):
    """``bert`` (the encoder) and ``cls`` (the head), named as transformers names them, so the checkpoint's
    state dict loads as is; the head's decoder shares the word embeddings."""

    base_model_prefix = "bert"

    def __init__(self, s: BertShape) -> None:
        super().__init__()
        self.config = s  # the fields benches read (layers, hidden size, vocabulary), as on a transformers model
        self.bert = BertEncoder(s)
        self.cls = BertMLMHead(s)
        self.tie()

    def tie(self) -> None:
        """The decoder scores with the word embeddings and the head's bias (call again after loading weights)."""
        predictions = self.cls.predictions
        predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        predictions.decoder.bias = predictions.bias

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder


@dataclass(frozen=True)
class TokenizerFacts:
    """What the MLM needs from a tokenizer, read from its files (no transformers class)."""

    backend: Tokenizer
    mask_token: str
    mask_id: int
    pad_id: int
    model_max_length: int | None
    special_ids: frozenset[int]
    uses_token_types: bool

    def tokens(self, count: int) -> list[str | None]:
        return [self.backend.id_to_token(i) for i in range(count)]

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)


def _token(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def load_tokenizer_facts(folder: Path) -> TokenizerFacts | None:
    """The folder's fast tokenizer and special tokens; None unless it is a BERT tokenizer with a mask token."""
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    if config.get("tokenizer_class") not in BERT_TOKENIZERS:
        return None
    text = (folder / "tokenizer.json").read_text(encoding="utf-8")  # read once: the tokenizer and its specials
    backend = Tokenizer.from_str(text)
    mask, pad = _token(config.get("mask_token")), _token(config.get("pad_token"))
    mask_id = backend.token_to_id(mask) if mask else None
    pad_id = backend.token_to_id(pad) if pad else None
    if mask is None or mask_id is None:
        return None
    spec = json.loads(text)
    lowercase = (spec.get("normalizer") or {}).get("lowercase")
    if "do_lower_case" in config and lowercase is not None and lowercase != config["do_lower_case"]:
        return None  # the config and the file disagree on casing: let transformers decide, as it always has
    special = frozenset(t["id"] for t in spec.get("added_tokens", []) if t.get("special"))
    limit = config.get("model_max_length")
    backend.no_truncation()
    backend.no_padding()
    return TokenizerFacts(
        backend=backend,
        mask_token=mask,
        mask_id=mask_id,
        pad_id=pad_id or 0,
        model_max_length=limit if isinstance(limit, int) else None,
        special_ids=special,
        uses_token_types=True,
    )


def load_plain_bert(source: str) -> tuple[PlainBertMLM, TokenizerFacts] | None:
    """The folder's masked LM (fp32, eval mode, on the CPU) and tokenizer facts, or None when the folder is
    not a plain BERT masked LM with exactly the expected weights (transformers loads it then)."""
    folder = Path(source)
    if not all((folder / name).is_file() for name in PLAIN_FILES):
        return None
    shape = BertShape.from_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    tokenizer = load_tokenizer_facts(folder) if shape is not None else None
    if shape is None or tokenizer is None:
        return None
    from safetensors.torch import load_file

    weights = {
        k: v for k, v in load_file(str(folder / "model.safetensors")).items() if not k.startswith("bert.pooler.")
    }
    model = PlainBertMLM(shape)
    expected = dict(model.state_dict())
    expected.pop("cls.predictions.decoder.weight")  # tied to the word embeddings
    expected.pop("cls.predictions.decoder.bias")  # the same tensor as cls.predictions.bias
    tied = weights.pop("cls.predictions.decoder.weight", None)
    weights.pop("cls.predictions.decoder.bias", None)
    if set(weights) != set(expected) or any(weights[k].shape != v.shape for k, v in expected.items()):
        return None
    if tied is not None and not torch.equal(tied, weights["bert.embeddings.word_embeddings.weight"]):
        return None  # an untied decoder: not this module's layout
    model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=False)
    return model.eval(), tokenizer
