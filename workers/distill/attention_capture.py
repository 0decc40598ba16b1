"""Pre-softmax attention scores without forking BERT.

Transformers 5 dispatches attention through ``AttentionInterface``; we register one more implementation,
``distill_capture``, that computes exactly what eager attention computes and additionally keeps the raw
scores (Q K^T * scaling, before the mask and the softmax) on the attention module. Any model of the BERT
family that uses the functional attention interface gets capture by switching its implementation.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, eager_mask

CAPTURE_IMPLEMENTATION = "distill_capture"
_ATTR = "_distill_scores"


def capture_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention that also stores the pre-softmax scores [batch, heads, q, k] on ``module``."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    setattr(module, _ATTR, scores)
    weights = scores if attention_mask is None else scores + attention_mask
    weights = nn.functional.softmax(weights, dim=-1)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


AttentionInterface.register(CAPTURE_IMPLEMENTATION, capture_attention_forward)
# The mask builder is looked up by the same name; ours wants the additive float mask eager uses.
AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


def enable_capture(model: PreTrainedModel) -> None:
    """Route the model's self-attention through the capturing implementation."""
    model.set_attn_implementation(CAPTURE_IMPLEMENTATION)


def use_fast_attention(model: PreTrainedModel) -> None:
    """SDPA kernels where no scores are needed (stage 2, evaluation); falls back to eager if unsupported."""
    try:
        model.set_attn_implementation("sdpa")
    except (ValueError, ImportError):
        model.set_attn_implementation("eager")


def pop_scores(model: nn.Module) -> list[torch.Tensor]:
    """The scores of the last forward pass, one tensor per layer in layer order, and forget them."""
    scores = []
    for module in model.modules():
        captured = module.__dict__.pop(_ATTR, None)
        if captured is not None:
            scores.append(captured)
    return scores
