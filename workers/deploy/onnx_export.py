"""A PyTorch sequence classifier -> an ONNX graph with dynamic batch and sequence axes.

Uses ``torch.onnx.export``'s TorchScript-based exporter (``dynamo=False``): it needs no extra package, handles
``transformers`` classifiers with dynamic shapes, and gives graphs that ONNX Runtime fuses on load. The graph's
inputs are named as the tokenizer names its outputs, so ``session.run(None, dict(tokenizer(...)))`` works.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

from shared.atomic import atomic_path
from workers.deploy.errors import DeployError

MIN_OPSET = 17
OUTPUT_NAME = "logits"


def graph_input_names(model: Any, tokenizer: Any) -> list[str]:
    """The tokenizer's output names that the model's forward accepts, in the tokenizer's order."""
    accepted = inspect.signature(model.forward).parameters
    names = [n for n in tokenizer.model_input_names if n in accepted]
    if "input_ids" not in names:
        raise DeployError(f"the tokenizer's outputs {tokenizer.model_input_names} do not include input_ids")
    return names


def _logits_module(model: Any, names: list[str]) -> Any:
    """The classifier as a module taking positional tensors in ``names`` order and returning logits only."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, tensors))).logits

    return LogitsOnly().eval()


def export_onnx(model: Any, tokenizer: Any, target: Path, opset: int = MIN_OPSET) -> list[str]:
    """Write ``target`` (atomically); returns the graph's input names."""
    import torch

    if opset < MIN_OPSET:
        raise DeployError(f"opset {opset} is too old; use {MIN_OPSET} or later")
    names = graph_input_names(model, tokenizer)
    sample = tokenizer(["a short sentence", "another, slightly longer sentence"], padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {OUTPUT_NAME: {0: "batch"}}
    module = _logits_module(model.eval(), names)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes: all shape-generic here
        torch.onnx.export(
            module,
            args,
            str(tmp),
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    model.eval()  # the exporter restores the wrapper's mode; the caller keeps predicting with the model
    return names
