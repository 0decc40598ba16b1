"""Loading the teacher, building the student, and the checks that keep them compatible."""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
)

from shared.model_refs import missing_local_model
from shared.settings import setting_field
from shared.tasks import TaskPreset
from workers.device_setup import DeviceUnavailable, configure_cuda_attention
from workers.device_setup import resolve_device as device_for
from workers.distill.checkpoint_adapt import keep_layers, match_vocabularies, transplant_word_embeddings
from workers.distill.errors import DistillError
from workers.distill.families import family_of
from workers.distill.label_order import LabelMismatch, task_label_order
from workers.distill.layer_map import build_layer_map

#: Weights are loaded and built in fp32 whatever ``config.dtype`` says (transformers 5 follows it): a bf16- or
#: fp16-saved teacher must not give a student trained without fp32 master weights. The precision setting
#: decides autocast, not the storage dtype.
FP32: dict[str, Any] = {"dtype": torch.float32}

log = logging.getLogger(__name__)

#: Files whose presence means a folder carries its own tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "vocab.json", "spiece.model")


@dataclass
class StudentSpec:
    """How to get the student: a fresh shape, a checkpoint folder, or the teacher's mapped layers.

    ``init='teacher'`` copies the teacher's embeddings, mapped layers, pooler and classifier, so the student
    keeps the teacher's hidden size, heads and FFN size (only ``layers`` applies). General distillation also
    takes ``init='pruned'`` (the mapped layers cut to the spec's widths, ``width_prune.py``) and ``'auto'``
    (pruned where the teacher's family can be cut).
    """

    layers: int = setting_field("student_layers")
    hidden: int = setting_field("student_hidden")
    heads: int = setting_field("student_heads")
    intermediate: int = setting_field("student_intermediate")
    checkpoint: str | None = None
    init: Literal["random", "teacher", "pruned", "auto"] = "random"
    checkpoint_layers: int | None = None  # with a checkpoint: keep this many of its layers (uniform map); None: all
    # a checkpoint with another tokenizer: the least share of the teacher's tokens it must have (checkpoint_adapt.py)
    vocab_min_coverage: float = setting_field("student_vocab_min_coverage")


def resolve_device(name: str) -> torch.device:
    """'auto' = CUDA when present, else CPU; a device this machine lacks (cuda:3 on two GPUs) is refused."""
    try:
        device = torch.device(device_for(name))
    except DeviceUnavailable as exc:
        raise DistillError(str(exc)) from None
    configure_cuda_attention(device)
    return device


def load_tokenizer(path: str):
    _refuse_missing_folder(path, "a tokenizer")
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load a tokenizer from {path!r}: {exc}") from None


def _refuse_missing_folder(path: str, what: str) -> None:
    """A clear error for a mistyped local path, before transformers reads it as a malformed hub id."""
    missing = missing_local_model(path)
    if missing:
        raise DistillError(f"cannot load {what} from {path!r}: {missing}")


def _load_config(path: str, what: str):
    _refuse_missing_folder(path, f"the {what}")
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the {what} from {path!r}: {exc}") from None


def load_teacher(path: str, preset: TaskPreset, device: torch.device) -> PreTrainedModel:
    """A frozen sequence-classification teacher for ``preset``; refuses an encoder without a trained head and
    an architecture whose attention scores we cannot capture (``families.py``)."""
    config = _load_config(path, "teacher")
    family_of(config, f"teacher {path!r}")
    architectures = list(getattr(config, "architectures", None) or [])
    hint = (
        f"fine-tune it into a teacher first: distillery finetune --model {path} --task {preset.name} "
        "--train TRAIN --dev DEV --output TEACHER_DIR"
    )
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise DistillError(
            f"teacher {path!r} has no sequence-classification head (architectures: {architectures or 'none'}); " + hint
        )
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(path, output_loading_info=True, **FP32)
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the teacher from {path!r}: {exc}") from None
    head_missing = [k for k in info.get("missing_keys", []) if re.search(r"classifier|score", k)]
    if head_missing:
        raise DistillError(
            f"teacher {path!r} has no trained classification weights (missing {sorted(head_missing)}); " + hint
        )
    if model.config.num_labels != preset.num_labels:
        raise DistillError(
            f"teacher {path!r} predicts {model.config.num_labels} label(s) but task {preset.name} has "
            f"{preset.num_labels}"
        )
    align_label_order(model, preset, path)
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def align_label_order(model: PreTrainedModel, preset: TaskPreset, path: str) -> None:
    """Make the teacher's logits follow the task's label order: a hub MNLI teacher names the same three classes
    as the task in another order, and its logits would be scored against the wrong labels. Generic or numeric
    names (and a task whose own labels are numbers) are taken in the teacher's order; label words that are not
    the task's are refused."""
    if preset.labels is None:
        return
    config: Any = model.config
    names = [str(config.id2label.get(i, i)) for i in range(preset.num_labels)]
    try:
        order = task_label_order(names, preset.labels)
    except LabelMismatch:
        raise DistillError(
            f"teacher {path!r} predicts labels {names} but task {preset.name} has {list(preset.labels)}; "
            "give a teacher fine-tuned on this task's labels"
        ) from None
    if order is None:
        return  # the task's order already, or generic names: nothing to match words against
    _permute_outputs(_label_layer(model, preset.num_labels, path), order)
    config.id2label = dict(enumerate(preset.labels))
    config.label2id = {label: i for i, label in enumerate(preset.labels)}
    log.warning(
        "teacher %r lists its labels as %s; its outputs were reordered to task %s's order %s",
        path, names, preset.name, list(preset.labels),
    )  # fmt: skip


def _label_layer(model: nn.Module, num_labels: int, path: str) -> nn.Linear:
    """The classification head's output layer: the one nn.Linear giving ``num_labels`` outputs (the one in the
    head, when the encoder has another of that width)."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if len(found) > 1:
        found = [(n, m) for n, m in found if re.search(r"classifier|score", n)]
    if len(found) != 1:
        raise DistillError(
            f"teacher {path!r}: cannot tell which layer gives its {num_labels} label outputs "
            f"({[n for n, _ in found] or 'none found'}), so its labels cannot be put in the task's order"
        )
    return found[0][1]


@torch.no_grad()
def _permute_outputs(layer: nn.Linear, order: list[int]) -> None:
    """Output i of ``layer`` becomes its former output ``order[i]``."""
    index = torch.tensor(order, device=layer.weight.device)
    layer.weight.copy_(layer.weight.index_select(0, index))
    if layer.bias is not None:
        layer.bias.copy_(layer.bias.index_select(0, index))


def student_layer_count(spec: StudentSpec) -> int:
    """The student's depth before it is built (the layer map, and a teacher init, need it)."""
    if spec.checkpoint:
        config = _load_config(spec.checkpoint, "student checkpoint")
        return len(checkpoint_layers_kept(spec, int(config.num_hidden_layers)))
    return spec.layers


def checkpoint_layers_kept(spec: StudentSpec, available: int) -> list[int]:
    """Which of the checkpoint's ``available`` layers (1-based) the student keeps: all, or ``checkpoint_layers``
    of them by the uniform map (6 -> 4 keeps 2, 3, 5, 6)."""
    wanted = spec.checkpoint_layers or available
    if wanted > available:
        raise DistillError(
            f"student checkpoint {spec.checkpoint!r} has {available} layers; cannot keep {wanted} of them"
        )
    return build_layer_map("uniform", wanted, available)


def checkpoint_tokenizer(path: str) -> Any | None:
    """The tokenizer saved with a student checkpoint, or None when it has none."""
    local = Path(path)
    if local.is_dir() and not any((local / f).exists() for f in TOKENIZER_FILES):
        return None
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError):
        return None


def build_student(
    spec: StudentSpec, teacher: PreTrainedModel, tokenizer, layer_map: list[int]
) -> tuple[PreTrainedModel, dict[str, Any]]:
    """The student model (on CPU): a BERT with the teacher's labels and vocabulary, whatever the teacher's family;
    and, for a checkpoint, how it was fitted to the teacher (layers kept, vocabulary), else {}."""
    tconf: Any = teacher.config  # transformers types label maps loosely
    label_kwargs = dict(
        num_labels=tconf.num_labels,
        id2label=dict(tconf.id2label),
        label2id=dict(tconf.label2id),
        # a GLUE task is single-label or regression; a teacher flagged multi-label would make the student unusable
        problem_type="single_label_classification"
        if tconf.problem_type == "multi_label_classification"
        else tconf.problem_type,
    )
    start: dict[str, Any] = {}
    if spec.checkpoint:
        student, start = _load_student_checkpoint(spec, tconf, tokenizer, label_kwargs)
    else:
        if spec.init not in ("random", "teacher"):
            raise DistillError(
                f"student init {spec.init!r} is for general distillation; a task distillation starts 'random', "
                "from 'teacher' layers, or from a general distillation's output (--student-checkpoint)"
            )
        family = family_of(tconf)
        if spec.init == "teacher" and not family.bert_layout:
            raise DistillError(
                f"--student-init teacher copies BERT layers, but the teacher is a {family.name} model; "
                "use --student-init random (the student is always a BERT)"
            )
        student = BertForSequenceClassification(_student_config(spec, tconf, label_kwargs))
        if spec.init == "teacher":
            student.load_state_dict(_mapped_teacher_state(teacher, layer_map))
    if student.config.num_attention_heads != tconf.num_attention_heads:
        raise DistillError(
            f"the student has {student.config.num_attention_heads} attention heads and the teacher "
            f"{tconf.num_attention_heads}; the attention loss compares heads one to one, so they must match "
            f"(--student-heads {tconf.num_attention_heads}, with a hidden size that is a multiple of it)"
        )
    return student, start


def _student_config(spec: StudentSpec, tconf: Any, label_kwargs: dict[str, Any]) -> BertConfig:
    """A BERT teacher's config with the student's sizes; for another family, a fresh BertConfig that keeps
    what the shared tokenizer needs: vocabulary size, padding id, position count, and two token types (pair
    tasks' tokenizers may send type ids 0 and 1 even when the teacher ignores them)."""
    if family_of(tconf).bert_layout:
        sconf = copy.deepcopy(tconf)
        sconf.architectures = None
    else:
        sconf = BertConfig(
            vocab_size=tconf.vocab_size,
            pad_token_id=tconf.pad_token_id if tconf.pad_token_id is not None else 0,
            max_position_embeddings=tconf.max_position_embeddings,
            type_vocab_size=max(2, getattr(tconf, "type_vocab_size", 0) or 0),
            **label_kwargs,
        )
    sconf.num_hidden_layers = spec.layers
    sconf.dtype = torch.float32  # saved with the student: a reload stays fp32 too
    if spec.init != "teacher":
        if spec.hidden % spec.heads:
            raise DistillError(f"student hidden size {spec.hidden} is not a multiple of its {spec.heads} heads")
        sconf.hidden_size = spec.hidden
        sconf.num_attention_heads = spec.heads
        sconf.intermediate_size = spec.intermediate
    return sconf


def encoder_student_config(spec: StudentSpec, teacher_config: Any) -> BertConfig:
    """A fresh student encoder's config (no task head): general distillation's student."""
    return _student_config(spec, teacher_config, {})


def _load_student_checkpoint(
    spec: StudentSpec, tconf: Any, tokenizer: Any, label_kwargs: dict[str, Any]
) -> tuple[PreTrainedModel, dict[str, Any]]:
    """A BERT checkpoint with a classifier for the task, fitted to the teacher (checkpoint_adapt.py): the layers
    asked for, and the teacher's vocabulary when the checkpoint's tokenizer differs."""
    path = str(spec.checkpoint)
    sconf = _load_config(path, "student checkpoint")
    if sconf.model_type != "bert":
        raise DistillError(f"student checkpoint {path!r} is a {sconf.model_type!r} model; the student must be a BERT")
    picked = checkpoint_layers_kept(spec, int(sconf.num_hidden_layers))
    own = checkpoint_tokenizer(path)
    same = own is None or own.get_vocab() == tokenizer.get_vocab()
    if same and getattr(sconf, "vocab_size", None) != tconf.vocab_size:  # no re-indexing: the sizes must agree
        raise DistillError(
            f"student checkpoint {path!r} has vocab_size {getattr(sconf, 'vocab_size', None)} but "
            f"the teacher {tconf.vocab_size}"
            + (
                ", and no tokenizer to match the two vocabularies by; save the checkpoint's tokenizer beside it"
                if own is None
                else "; student and teacher must share one tokenizer"
            )
        )
    match = None if same else match_vocabularies(tokenizer, own, tconf.vocab_size)
    minimum = spec.vocab_min_coverage
    if match is not None and match.coverage < minimum:
        raise DistillError(
            f"student checkpoint {path!r} uses another tokenizer, which has only {match.matched:,} of the "
            f"teacher's {match.teacher_tokens:,} tokens ({match.coverage:.1%}; at least {minimum:.0%} needed to "
            "start from its embeddings); start from a checkpoint trained with the teacher's tokenizer, or from "
            "a shape (--student-layers/--student-hidden ...)"
        )
    try:
        student = AutoModelForSequenceClassification.from_pretrained(
            path, ignore_mismatched_sizes=True, **label_kwargs, **FP32
        )
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the student checkpoint {path!r}: {exc}") from None
    if len(picked) < sconf.num_hidden_layers:
        keep_layers(student, picked)
    if match is not None:
        transplant_word_embeddings(student, match, tconf.pad_token_id if tconf.pad_token_id is not None else 0)
    start = {
        "layers_kept": picked,
        "of_layers": int(sconf.num_hidden_layers),
        "vocabulary": match.describe() if match is not None else {"transplanted": False},
    }
    return student, start


def _mapped_teacher_state(teacher: PreTrainedModel, layer_map: list[int]) -> dict[str, torch.Tensor]:
    """Teacher weights renamed for the student: student layer m gets teacher layer layer_map[m]."""
    source_of = {t - 1: m for m, t in enumerate(layer_map)}
    state = {}
    for name, tensor in teacher.state_dict().items():
        match = re.search(r"\.layer\.(\d+)\.", name)
        if match is None:
            state[name] = tensor.detach().clone().cpu()
        elif int(match.group(1)) in source_of:
            new = name[: match.start()] + f".layer.{source_of[int(match.group(1))]}." + name[match.end() :]
            state[new] = tensor.detach().clone().cpu()
    return state


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
