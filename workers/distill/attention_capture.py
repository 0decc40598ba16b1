"""Pre-softmax attention scores without forking any model.

Transformers 5 dispatches attention through ``AttentionInterface``; we register one more implementation,
``distill_capture``, that computes exactly what eager attention computes and additionally hands the raw
scores (Q K^T * scaling, before the mask and the softmax) to the model's ``ScoreSink``. Families that compute
attention inline (MPNet, DeBERTa-v2) get a forward hook instead (``families.py``).

The sink records one tensor per attention *call*, in call order, which is layer order: ALBERT, whose layers
share one module, gets one tensor per layer. It keeps only the layers asked for (the teacher's mapped layers)
and is emptied at the start of every forward pass, so it always holds the last pass's scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from workers.distill.errors import DistillError
from workers.distill.families import ScoreHook, family_of

CAPTURE_IMPLEMENTATION = "distill_capture"
_SINK = "_distill_sink"  # on each attention module: where its calls' scores go
_CAPTURE = "_distill_capture"  # on the model: its sink and hook handles


class ScoreSink:
    """The scores of one forward pass, one slot per attention call; only the wanted layers are computed/kept."""

    def __init__(self, layers: int, keep: Iterable[int] | None) -> None:
        self.layers = layers
        self.keep = None if keep is None else frozenset(keep)
        self.calls = 0
        self.scores: dict[int, torch.Tensor] = {}

    def reset(self) -> None:
        self.calls, self.scores = 0, {}

    def record(self, compute: Callable[[], torch.Tensor]) -> None:
        """One attention call: ``compute()`` its scores if this layer is wanted."""
        if self.keep is None or self.calls in self.keep:
            self.scores[self.calls] = compute()
        self.calls += 1

    def pop(self) -> list[torch.Tensor | None]:
        """One entry per layer (None where not kept), [] if nothing ran since the last pop; an error, not a
        wrong loss, if the calls were not one per layer."""
        if self.calls and self.calls != self.layers:
            raise DistillError(
                f"attention capture saw {self.calls} attention call(s) for a model of {self.layers} layer(s); "
                "this model's attention layout is not supported for distillation"
            )
        scores = [self.scores.get(i) for i in range(self.calls)]
        self.reset()
        return scores


@dataclass
class _Capture:
    sink: ScoreSink
    modules: list[nn.Module]
    handles: list[Any] = field(default_factory=list)


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
    """Eager attention that also records the pre-softmax scores [batch, heads, q, k] in the module's sink."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    sink = module.__dict__.get(_SINK)
    if sink is not None:
        sink.record(lambda: scores)
    weights = scores if attention_mask is None else scores + attention_mask
    weights = nn.functional.softmax(weights, dim=-1)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


AttentionInterface.register(CAPTURE_IMPLEMENTATION, capture_attention_forward)
# The mask builder is looked up by the same name; ours wants the additive float mask eager uses.
AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


def _hooked_scores(hook: ScoreHook, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
    """Forward hook of an inline-attention module: record its recomputed scores."""
    module.__dict__[_SINK].record(lambda: hook(module, args, kwargs))


def enable_capture(model: PreTrainedModel, layers: Iterable[int] | None = None) -> None:
    """Record the pre-softmax scores of every forward pass: all layers, or only ``layers`` (0-based).

    Raises ``UnsupportedTeacher`` for an architecture we cannot read scores from."""
    family = family_of(model.config, "model")
    disable_capture(model)
    modules = [m for m in model.modules() if type(m).__name__ == family.attention_module]
    capture = _Capture(ScoreSink(model.config.num_hidden_layers, layers), modules)
    for module in modules:
        module.__dict__[_SINK] = capture.sink
        if family.score_hook is not None:
            hook = partial(_hooked_scores, family.score_hook)
            capture.handles.append(module.register_forward_hook(hook, with_kwargs=True))
    capture.handles.append(model.register_forward_pre_hook(lambda *_: capture.sink.reset()))
    model.__dict__[_CAPTURE] = capture
    if family.score_hook is None:
        model.set_attn_implementation(CAPTURE_IMPLEMENTATION)


def disable_capture(model: PreTrainedModel) -> None:
    """Stop recording (removes the hooks and sinks; the attention kernel is the caller's to set)."""
    capture = model.__dict__.pop(_CAPTURE, None)
    if capture is None:
        return
    for handle in capture.handles:
        handle.remove()
    for module in capture.modules:
        module.__dict__.pop(_SINK, None)


def _set_kernel(model: PreTrainedModel, name: str) -> None:
    """Switch the attention implementation where the model supports it (inline-attention models have one)."""
    disable_capture(model)
    if model._can_set_attn_implementation():
        model.set_attn_implementation(name)


def use_fast_attention(model: PreTrainedModel) -> None:
    """SDPA kernels where no scores are needed (stage 2, evaluation); falls back to eager if unsupported."""
    try:
        _set_kernel(model, "sdpa")
    except (ValueError, ImportError):
        _set_kernel(model, "eager")


def use_eager_attention(model: PreTrainedModel) -> None:
    """Plain eager attention, no capture (the plain baseline's stage 2)."""
    _set_kernel(model, "eager")


def pop_scores(model: nn.Module) -> list[torch.Tensor | None]:
    """The scores of the last forward pass, one entry per layer in layer order (None for a layer not asked
    for), and forget them; [] when the model is not capturing. ``model`` may be wrapped (DDP)."""
    for module in model.modules():
        capture = module.__dict__.get(_CAPTURE)
        if capture is not None:
            return capture.sink.pop()
    return []
