"""A narrow student cut out of a BERT or MPNet teacher: its mapped layers with the least-used widths removed.

General distillation from a random student needs far more steps than a CPU session has (TinyBERT's first stage
ran for days on Wikipedia); in a few hundred steps its students stay collapsed (docs/general-distillation.md).
Starting the student from the teacher's own weights, narrowed, gives general distillation a student that
already computes nearly what the teacher computes. The widths are chosen by how much the teacher uses them on
sample text (activation-based importance, as in structured-pruning work such as Minitron):

* hidden units (the residual stream, shared by every layer): the root-mean-square of each unit over the
  embedding output and every layer's output;
* per head, query/key dimensions by RMS(q_d) * RMS(k_d) (their product is what a score sums), value dimensions
  by RMS(v_d) times the norm of the output-projection column that reads them;
* feed-forward neurons by the RMS of their activation times the norm of the output column that reads them.

Heads keep their count (the attention loss compares heads one to one), so each head gets narrower; the query
is rescaled so that the narrower head's 1/sqrt(d) still gives the teacher's score scale. ``selection_projection``
starts a learned projection W as the map back into the teacher's hidden units (kept units copied, the others
set to their mean), so the hidden loss starts small instead of at a random projection's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from workers.distill.data import Example, collate
from workers.distill.errors import DistillError
from workers.distill.losses import Projections

#: General distillation's student inits ('auto' resolves to one of the others by the teacher's family).
INITS = ("auto", "random", "pruned")


@dataclass(frozen=True)
class Layout:
    """Where a family keeps each weight, relative to its base model (embeddings) and to one layer (the rest),
    in the BERT student's order: query, key, value, attention output, its LayerNorm, FFN in, FFN out, its
    LayerNorm. ``positions_after_padding``: position 0 is row padding_idx + 1 of the table (MPNet, RoBERTa-style)."""

    layer_parts: tuple[str, ...]
    token_types: bool = True
    positions_after_padding: bool = False


BERT_PARTS = (
    "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
    "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
)  # fmt: skip
MPNET_PARTS = (
    "attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o", "attention.LayerNorm",
    "intermediate.dense", "output.dense", "output.LayerNorm",
)  # fmt: skip
#: Families whose weights ``narrowed_state`` knows how to cut into a BERT student.
LAYOUTS = {
    "bert": Layout(BERT_PARTS),
    "mpnet": Layout(MPNET_PARTS, token_types=False, positions_after_padding=True),
}
PRUNABLE = tuple(LAYOUTS)

#: How many passages, and how many at a time, the teacher's unit usage is measured on.
PRUNE_SAMPLE = 512
PRUNE_BATCH = 64


@dataclass
class WidthPlan:
    """Which teacher units the student keeps (sorted teacher indices), and the teacher's per-layer means."""

    hidden: torch.Tensor  # [student hidden]
    query_key: list[torch.Tensor]  # per teacher layer, [heads * student head size]
    value: list[torch.Tensor]
    ffn: list[torch.Tensor]  # per teacher layer, [student intermediate]
    hidden_means: list[torch.Tensor]  # teacher hidden state means: embedding output, then each layer [H]
    query_scale: float  # sqrt(student head size / teacher head size)


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return torch.topk(scores, k).indices.sort().values


def _per_head_top(scores: torch.Tensor, heads: int, keep: int) -> torch.Tensor:
    """Top ``keep`` dimensions within each head's block of ``scores`` [heads * head_size], as flat indices."""
    size = scores.numel() // heads
    blocks = scores.view(heads, size)
    picked = [_top(blocks[h], keep) + h * size for h in range(heads)]
    return torch.cat(picked)


class _RMS:
    """Running mean and root-mean-square over real tokens of the last dimension of what a module outputs."""

    def __init__(self) -> None:
        self.sum = torch.zeros(())
        self.sum_sq = torch.zeros(())
        self.count = 0

    def add(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        flat = x.detach().float()[mask.bool()].cpu()  # real tokens only: [tokens, D]
        self.sum = self.sum + flat.sum(0)
        self.sum_sq = self.sum_sq + (flat**2).sum(0)
        self.count += flat.size(0)

    def value(self) -> torch.Tensor:
        return (self.sum_sq / max(self.count, 1)).sqrt()

    def mean(self) -> torch.Tensor:
        return self.sum / max(self.count, 1)


def resolve_init(asked: str, teacher_config: Any, student_config: Any) -> tuple[str, str]:
    """The init general distillation uses for ``asked`` and why; 'pruned' of a family we cannot cut is refused
    (and one wider than the teacher, by ``measure_widths``)."""
    model_type = getattr(teacher_config, "model_type", None)
    if asked == "random":
        return "random", "asked for a fresh student (the paper's recipe)"
    wider = student_config.hidden_size > teacher_config.hidden_size or student_config.intermediate_size > getattr(
        teacher_config, "intermediate_size", 0
    )
    if asked == "auto" and wider:
        return "random", "auto: the student is wider than the teacher, so there is nothing to cut; a fresh student"
    if model_type in PRUNABLE:
        return "pruned", f"the {model_type} teacher's mapped layers cut to the student's widths by measured usage"
    if asked == "pruned":
        raise DistillError(
            f"--student-init pruned cuts a teacher of family {', '.join(PRUNABLE)}; this teacher is "
            f"{model_type!r} (use random)"
        )
    return "random", f"auto: a {model_type} teacher cannot be cut (only {', '.join(PRUNABLE)}), so a fresh student"


def _base(model: PreTrainedModel) -> tuple[Any, Layout]:
    """The encoder under any head, and its family's layout (transformers types submodules loosely: Any)."""
    base: Any = model.base_model
    model_type = getattr(base.config, "model_type", None)
    layout = LAYOUTS.get(str(model_type))
    if layout is None:
        raise DistillError(
            f"a narrowed teacher copy needs a teacher of family {', '.join(PRUNABLE)}; this one is "
            f"{model_type!r} (use a random student)"
        )
    return base, layout


def _part(layer: nn.Module, path: str) -> Any:
    return layer.get_submodule(path)


@torch.no_grad()
def measure_widths(
    teacher: PreTrainedModel, batches: Iterable[dict[str, torch.Tensor]], hidden: int, intermediate: int
) -> WidthPlan:
    """Run the teacher on ``batches`` (model inputs with an ``attention_mask``) and choose what to keep."""
    bert, layout = _base(teacher)
    query, key, value_part, attn_out, _, ffn_in, ffn_out, _ = layout.layer_parts
    config = bert.config
    heads = config.num_attention_heads
    if hidden % heads:
        raise DistillError(f"student hidden size {hidden} is not a multiple of the teacher's {heads} heads")
    if hidden > config.hidden_size or intermediate > config.intermediate_size:
        raise DistillError(
            f"a narrowed copy cannot be wider than the teacher ({config.hidden_size} hidden, "
            f"{config.intermediate_size} FFN); asked for {hidden} and {intermediate}"
        )
    layers = bert.encoder.layer
    stats = {name: [_RMS() for _ in layers] for name in ("q", "k", "v", "ffn")}
    mask_now: dict[str, torch.Tensor] = {}
    hooks = []
    activation = ffn_in.rsplit(".", 1)[0]  # the module around the FFN's first linear: its output is activated
    for i, layer in enumerate(layers):
        for name, path in (("q", query), ("k", key), ("v", value_part), ("ffn", activation)):
            module = _part(layer, path)
            hooks.append(module.register_forward_hook(lambda m, a, out, s=stats[name][i]: s.add(out, mask_now["m"])))
    hidden_states = [_RMS() for _ in range(len(layers) + 1)]  # embedding output, then each layer's
    try:
        for batch in batches:
            mask_now["m"] = batch["attention_mask"]
            out = bert(**batch, output_hidden_states=True)
            for state, h in zip(hidden_states, out.hidden_states, strict=True):
                state.add(h, batch["attention_mask"])
    finally:
        for hook in hooks:
            hook.remove()
    if hidden_states[0].count == 0:
        raise DistillError("no text to measure the teacher's widths on")
    head_size = config.hidden_size // heads
    keep = hidden // heads
    query_key, value, ffn = [], [], []
    for i, layer in enumerate(layers):
        query_key.append(_per_head_top(stats["q"][i].value() * stats["k"][i].value(), heads, keep))
        out_norm = _part(layer, attn_out).weight.float().norm(dim=0).cpu()
        value.append(_per_head_top(stats["v"][i].value() * out_norm, heads, keep))
        ffn_norm = _part(layer, ffn_out).weight.float().norm(dim=0).cpu()
        # the FFN's activation (after GELU), as the output projection reads it
        ffn.append(_top(stats["ffn"][i].value() * ffn_norm, intermediate))
    unit_scores = torch.stack([state.value() for state in hidden_states]).mean(0)
    return WidthPlan(
        hidden=_top(unit_scores, hidden),
        query_key=query_key,
        value=value,
        ffn=ffn,
        hidden_means=[state.mean() for state in hidden_states],
        query_scale=math.sqrt(keep / head_size),
    )


def narrowed_state(teacher: PreTrainedModel, plan: WidthPlan, layer_map: list[int]) -> dict[str, torch.Tensor]:
    """The teacher's weights cut to the plan, named for a student ``BertModel`` whose layer m is teacher layer
    ``layer_map[m]`` (1-based); the pooler is cut too."""
    base, layout = _base(teacher)
    h = plan.hidden
    source = base.state_dict()
    state: dict[str, torch.Tensor] = {}

    def put(name: str, tensor: torch.Tensor) -> None:
        state[name] = tensor.detach().clone().float().cpu()

    put("embeddings.word_embeddings.weight", source["embeddings.word_embeddings.weight"][:, h])
    first_position = int(base.config.pad_token_id) + 1 if layout.positions_after_padding else 0
    put("embeddings.position_embeddings.weight", source["embeddings.position_embeddings.weight"][first_position:, h])
    if layout.token_types:
        put("embeddings.token_type_embeddings.weight", source["embeddings.token_type_embeddings.weight"][:, h])
    for part in ("weight", "bias"):
        put(f"embeddings.LayerNorm.{part}", source[f"embeddings.LayerNorm.{part}"][h])
    for m, t in enumerate(layer_map):
        src = {mine: f"encoder.layer.{t - 1}.{theirs}." for mine, theirs in zip(BERT_PARTS, layout.layer_parts)}
        dst = {mine: f"encoder.layer.{m}.{mine}." for mine in BERT_PARTS}
        query, key, value, attn_out, attn_norm, ffn_in, ffn_out, ffn_norm = BERT_PARTS
        qk, v, f = plan.query_key[t - 1], plan.value[t - 1], plan.ffn[t - 1]
        for part, rows, scale in ((query, qk, plan.query_scale), (key, qk, 1.0), (value, v, 1.0)):
            put(f"{dst[part]}weight", source[f"{src[part]}weight"][rows][:, h] * scale)
            put(f"{dst[part]}bias", source[f"{src[part]}bias"][rows] * scale)
        put(f"{dst[attn_out]}weight", source[f"{src[attn_out]}weight"][h][:, v])
        put(f"{dst[ffn_in]}weight", source[f"{src[ffn_in]}weight"][f][:, h])
        put(f"{dst[ffn_in]}bias", source[f"{src[ffn_in]}bias"][f])
        put(f"{dst[ffn_out]}weight", source[f"{src[ffn_out]}weight"][h][:, f])
        for part in (attn_out, ffn_out):
            put(f"{dst[part]}bias", source[f"{src[part]}bias"][h])
        for part in (attn_norm, ffn_norm):
            for kind in ("weight", "bias"):
                put(f"{dst[part]}{kind}", source[f"{src[part]}{kind}"][h])
    if "pooler.dense.weight" in source:
        put("pooler.dense.weight", source["pooler.dense.weight"][h][:, h])
        put("pooler.dense.bias", source["pooler.dense.bias"][h])
    return state


def load_narrowed(student: PreTrainedModel, teacher: PreTrainedModel, plan: WidthPlan, layer_map: list[int]) -> None:
    """Copy the narrowed teacher into ``student`` (a BERT of the plan's widths); every encoder weight must land."""
    base = student.base_model
    own = base.state_dict()
    state = narrowed_state(teacher, plan, layer_map)
    if "pooler.dense.weight" not in state:  # an encoder saved without its pooler: the student keeps its own
        state.update({k: v for k, v in own.items() if k.startswith("pooler.")})
    types = "embeddings.token_type_embeddings.weight"
    if types not in state:  # a teacher without token types: the student's must add nothing
        state[types] = torch.zeros_like(own[types])
    positions = "embeddings.position_embeddings.weight"
    if state[positions].size(0) < own[positions].size(0):  # counted from an offset: the last rows stay random
        state[positions] = torch.cat([state[positions], own[positions][state[positions].size(0) :]])
    missing, unexpected = base.load_state_dict(state, strict=False)
    missing = [k for k in missing if not re.search(r"position_ids|token_type_ids", k)]
    if missing or unexpected:
        raise DistillError(f"the narrowed teacher does not fit the student: missing {missing}, extra {unexpected}")


@torch.no_grad()
def selection_projection(linear: nn.Linear, plan: WidthPlan, teacher_index: int) -> None:
    """Start W (student -> teacher hidden) as the inverse of the cut: kept units copied back to their teacher
    position, every other teacher unit predicted by its mean at that depth (``teacher_index``: 0 = embeddings)."""
    linear.weight.zero_()
    linear.weight[plan.hidden, torch.arange(plan.hidden.numel())] = 1.0
    bias = plan.hidden_means[teacher_index].clone()
    bias[plan.hidden] = 0.0
    linear.bias.copy_(bias)


def start_pruned(
    student: PreTrainedModel, teacher: PreTrainedModel, projections: Projections, examples: list[Example],
    layer_map: list[int], pad_id: int, device: torch.device,
) -> WidthPlan:  # fmt: skip
    """Make ``student`` the teacher cut to its widths, measured on the first ``PRUNE_SAMPLE`` examples, and
    start each projection (``Projections``: 0 = embeddings, m = student layer m) as the cut's inverse."""
    sample = examples[:PRUNE_SAMPLE]
    batches = (collate(sample[i : i + PRUNE_BATCH], pad_id, device) for i in range(0, len(sample), PRUNE_BATCH))
    config: Any = student.config
    plan = measure_widths(teacher, batches, config.hidden_size, config.intermediate_size)
    load_narrowed(student, teacher, plan, layer_map)
    maps = projections.maps
    for index, linear in enumerate(maps):
        assert isinstance(linear, nn.Linear)
        selection_projection(linear, plan, 0 if index == 0 or len(maps) == 1 else layer_map[index - 1])
    return plan
