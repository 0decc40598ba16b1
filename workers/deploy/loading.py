"""A model folder or an ``.onnx`` file -> a ``LoadedModel``: predictor, tokenizer and the label names.

A folder with ``save_pretrained`` weights runs in PyTorch; an ``.onnx`` file (or a folder holding only
``model.onnx``, as ``distillery export`` writes) runs in ONNX Runtime with the tokenizer and config.json found
beside it. Every refusal names the file or folder at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.deploy.errors import DeployError
from workers.deploy.predictors import OnnxPredictor, Predictor, TorchPredictor

#: Files that mean a folder holds PyTorch weights (single file or sharded).
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
#: Files whose presence means a folder carries its own tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
ONNX_NAME = "model.onnx"


@dataclass
class LoadedModel:
    """A model ready to predict: ``labels`` are the class names in logit order, None for regression;
    ``precision`` is what it computes in (an ONNX file: as stored), ``precision_reason`` why."""

    predictor: Predictor
    tokenizer: Any
    labels: tuple[str, ...] | None
    path: Path
    config: dict[str, Any]
    precision: str = "fp32"
    precision_reason: str = "fp32"

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def kind(self) -> str:
        return self.predictor.kind


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def read_config(folder: Path, required: bool) -> dict[str, Any]:
    """config.json of a folder as a dict, checked to describe a sequence classifier."""
    path = folder / "config.json"
    if not path.is_file():
        if required:
            raise DeployError(f"{path}: no such file; a model folder needs the config.json save_pretrained writes")
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeployError(f"{path}: not a readable JSON config ({exc})") from None
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise DeployError(
            f"{path}: architectures {architectures or 'none'} is not a sequence classifier "
            "(a *ForSequenceClassification model, e.g. a fine-tuned teacher or a distilled student)"
        )
    if config.get("problem_type") == "multi_label_classification":
        raise DeployError(
            f"{path}: problem_type multi_label_classification (independent sigmoid outputs) is not supported; "
            "evaluate, predict and export handle single-label classifiers and regression"
        )
    return config


def label_names(config: dict[str, Any]) -> tuple[str, ...] | None:
    """Class names in logit order from config.json; None for a regression head."""
    id2label = config.get("id2label") or {}
    if config.get("problem_type") == "regression" or len(id2label) == 1:
        return None
    return tuple(str(id2label[k]) for k in sorted(id2label, key=int)) if id2label else None


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved beside the model; a folder without tokenizer files is refused by name."""
    from transformers import AutoTokenizer

    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise DeployError(f"{folder}: no tokenizer files (looked for {', '.join(TOKENIZER_FILES)})")
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise DeployError(f"{folder}: cannot load its tokenizer ({exc})") from None


def check_torch_folder(folder: Path) -> dict[str, Any]:
    """config.json of a save_pretrained classifier folder that also holds weights (checked without torch)."""
    config = read_config(folder, required=True)
    if not has_weights(folder):
        raise DeployError(f"{folder}: no model weights (looked for {', '.join(WEIGHT_FILES)})")
    return config


def load_torch_classifier(folder: Path) -> Any:
    """The PyTorch sequence classifier of a save_pretrained folder (CPU, fp32, eval mode)."""
    check_torch_folder(folder)
    import torch
    from transformers import AutoModelForSequenceClassification

    try:  # fp32 whatever config.dtype says (transformers 5 follows it): fp16-saved weights run and export as fp32
        return AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise DeployError(f"{folder}: cannot load the model ({str(exc).splitlines()[0][:300]})") from None


def resolve_model_path(path: str | Path) -> tuple[Path, Path | None]:
    """(folder, onnx file or None for PyTorch) for a --model argument."""
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() != ".onnx":
            raise DeployError(f"{p}: not an .onnx file; pass a model folder or an .onnx file")
        return p.parent, p
    if not p.is_dir():
        raise DeployError(f"{p}: no such file or folder")
    if has_weights(p):
        return p, None
    if (p / ONNX_NAME).is_file():
        return p, p / ONNX_NAME
    raise DeployError(f"{p}: neither a save_pretrained model folder (no {WEIGHT_FILES[0]}) nor an export ({ONNX_NAME})")


def run_precision(onnx_file: Path | None, requested: str) -> tuple[str, str]:
    """(precision, why) of a run: a PyTorch model resolves ``requested`` on the CPU (``auto`` = bf16 where the
    CPU runs it natively; see docs/precision.md); an ONNX file runs as it was stored, so bf16 is refused there."""
    if onnx_file is not None:
        if requested == "bf16":
            raise DeployError(
                f"{onnx_file}: an ONNX file runs at the precision it was exported with; bf16 applies to PyTorch model folders"
            )
        return "as stored", f"{onnx_file.name} runs at the precision it was exported with"
    from shared.precision import choose_precision, cpu_bf16_support
    from shared.settings import get_settings

    choice = choose_precision(requested, "cpu", *cpu_bf16_support(get_settings().bf16_detect))
    return choice.precision, choice.reason


def check_seq_len(given: int | None, config: dict[str, Any]) -> None:
    """Refuse a --max-seq-len beyond the model's position table (config.json's max_position_embeddings)."""
    limit = config.get("max_position_embeddings")
    if given and limit and given > int(limit):
        raise DeployError(f"--max-seq-len {given} exceeds the model's {limit} positions (max_position_embeddings)")


@dataclass(frozen=True)
class ModelFiles:
    """What a --model argument is, read from its files alone: the folder, the ONNX file (None: PyTorch),
    the precision it will run in and why, and its config.json (empty for a bare .onnx file)."""

    folder: Path
    onnx_file: Path | None
    precision: str
    precision_reason: str
    config: dict[str, Any]


def check_model(path: str | Path, precision: str = "fp32", max_seq_len: int | None = None) -> ModelFiles:
    """Every refusal that the files and flags alone decide, without importing torch or transformers (seconds
    on a small CPU): a typo, a folder without config.json or weights, bf16 where it cannot run, a --max-seq-len
    past the position table. ``load_model`` runs it first; the CLI runs it before its imports."""
    folder, onnx_file = resolve_model_path(path)
    resolved, reason = run_precision(onnx_file, precision)
    config = read_config(folder, required=onnx_file is None)
    check_seq_len(max_seq_len, config)
    return ModelFiles(folder, onnx_file, resolved, reason, config)


def load_model(path: str | Path, threads: int = 0, precision: str = "fp32") -> LoadedModel:
    """Load a model folder or .onnx file with its tokenizer; DeployError names what is missing or broken.

    ``precision`` (auto, fp32 or bf16) applies to PyTorch folders: bf16 casts the weights, as deployments do."""
    files = check_model(path, precision)
    import transformers

    transformers.logging.set_verbosity_error()
    tokenizer = load_tokenizer(files.folder)
    labels = label_names(files.config)
    if files.onnx_file is None:
        model = load_torch_classifier(files.folder)
        if files.precision == "bf16":
            import torch

            model = model.to(torch.bfloat16)
        predictor: Predictor = TorchPredictor(model, threads)
    else:
        predictor = OnnxPredictor(files.onnx_file, threads)
        if not files.config:  # a bare .onnx file: class indices as names, one output = regression
            width = predictor.output_width
            labels = None if width == 1 else tuple(str(i) for i in range(width or 2))
    return LoadedModel(predictor, tokenizer, labels, Path(path), files.config, files.precision, files.precision_reason)
