"""The teacher architectures distillation accepts, and how each one gives up its pre-softmax attention scores.

Stage 1 compares the student's attention scores with the teacher's, so a teacher is usable only where we can
read the scores its own softmax sees. Two routes:

* Models that call attention through transformers' ``AttentionInterface`` (BERT, RoBERTa, XLM-R, DistilBERT,
  ELECTRA, ALBERT) switch to our capturing implementation (``attention_capture.py``); nothing per family but
  the name of the module that is called once per layer.
* MPNet and DeBERTa-v2/v3 compute attention inline. A forward hook on their self-attention module recomputes
  the scores from the module's own inputs and weights: Q K^T scaled as the module scales it, plus MPNet's
  relative position bias or DeBERTa's disentangled c2p/p2c terms (through the model's own method), which is
  what the module adds before its mask and softmax. ``tests/test_distill_families.py`` checks each against
  the model's returned attention probabilities.

Everything else is refused before any work starts, naming the architecture and listing these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from workers.distill.errors import UnsupportedTeacher

#: Recomputes one self-attention call's pre-softmax scores [batch, heads, q, k] from its (args, kwargs).
ScoreHook = Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], torch.Tensor]


@dataclass(frozen=True)
class Family:
    """One supported architecture (a ``config.model_type``)."""

    model_type: str
    name: str  # as people write it
    attention_module: str  # class name of the module called once per layer with that layer's attention
    score_hook: ScoreHook | None = None  # None: the AttentionInterface capture
    bert_layout: bool = False  # its weights are BERT's: a student can start from its layers
    check: Callable[[Any], str | None] | None = None  # a config this family's capture cannot handle -> why


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    """An argument of a hooked forward call, whether it was passed by position or by name."""
    return args[index] if len(args) > index else kwargs.get(name)


def mpnet_scores(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """MPNetSelfAttention: q k^T / sqrt(d) plus the relative position bias the encoder passes in."""
    hidden = _arg(args, kwargs, 0, "hidden_states")
    bias = _arg(args, kwargs, 2, "position_bias")
    shape = (*hidden.shape[:-1], -1, module.attention_head_size)
    q = module.q(hidden).view(shape).transpose(1, 2)
    k = module.k(hidden).view(shape).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(module.attention_head_size)
    return scores if bias is None else scores + bias


def deberta_v2_scores(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """DisentangledSelfAttention (DeBERTa-v2/v3): content q k^T plus the c2p/p2c terms, each over
    sqrt(d * (1 + number of position terms)), as the module computes them."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import scaled_size_sqrt

    hidden = _arg(args, kwargs, 0, "hidden_states")
    query_states = kwargs.get("query_states")
    heads = module.num_attention_heads
    q = module.transpose_for_scores(module.query_proj(hidden if query_states is None else query_states), heads)
    k = module.transpose_for_scores(module.key_proj(hidden), heads)
    scale_factor = 1 + sum(term in module.pos_att_type for term in ("c2p", "p2c"))
    scores = torch.bmm(q, k.transpose(-1, -2) / scaled_size_sqrt(q, scale_factor).to(dtype=q.dtype))
    if module.relative_attention:
        rel_embeddings = module.pos_dropout(kwargs.get("rel_embeddings"))
        relative_pos = kwargs.get("relative_pos")
        scores = scores + module.disentangled_attention_bias(q, k, relative_pos, rel_embeddings, scale_factor)
    return scores.view(-1, heads, scores.size(-2), scores.size(-1))


def _albert_check(config: Any) -> str | None:
    groups = getattr(config, "inner_group_num", 1)
    if groups != 1:
        return f"inner_group_num={groups} runs {groups} attention calls per layer; only 1 is supported"
    return None


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("bert", "BERT", "BertSelfAttention", bert_layout=True),
        Family("roberta", "RoBERTa", "RobertaSelfAttention"),
        Family("xlm-roberta", "XLM-RoBERTa", "XLMRobertaSelfAttention"),
        Family("distilbert", "DistilBERT", "DistilBertSelfAttention"),
        Family("electra", "ELECTRA", "ElectraSelfAttention"),
        Family("albert", "ALBERT", "AlbertAttention", check=_albert_check),
        Family("mpnet", "MPNet", "MPNetSelfAttention", score_hook=mpnet_scores),
        Family("deberta-v2", "DeBERTa-v2/v3", "DisentangledSelfAttention", score_hook=deberta_v2_scores),
    )
}


def supported_model_types() -> list[str]:
    return list(FAMILIES)


def family_of(config: Any, what: str = "teacher") -> Family:
    """The family of a model config; ``UnsupportedTeacher`` naming the architecture when we cannot capture it."""
    model_type = getattr(config, "model_type", None) or "unknown"
    architectures = ", ".join(getattr(config, "architectures", None) or []) or "no architectures listed"
    family = FAMILIES.get(model_type)
    if family is None:
        raise UnsupportedTeacher(
            f"{what}: architecture {model_type!r} ({architectures}) is not supported for distillation "
            f"(stage 1 needs its pre-softmax attention scores); supported model types: "
            f"{', '.join(supported_model_types())}"
        )
    problem = family.check(config) if family.check else None
    if problem:
        raise UnsupportedTeacher(
            f"{what}: this {family.name} configuration is not supported for distillation: {problem}"
        )
    return family
