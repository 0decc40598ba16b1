"""One predictor interface over a PyTorch sequence classifier and an ONNX Runtime session.

Both take the tokenizer's padded numpy arrays and return float32 logits, so evaluation, prediction, latency
and the export check treat every form of a model alike.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Protocol

import numpy as np

from workers.deploy.errors import DeployError


class Predictor(Protocol):
    """Logits [batch, labels] from a batch of token arrays named as the tokenizer names them."""

    kind: str
    input_names: tuple[str, ...]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


class TorchPredictor:
    """A ``transformers`` sequence classifier in eval mode on the CPU (fp32)."""

    kind = "pytorch"

    def __init__(self, model, threads: int = 0) -> None:
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        self.model = model.eval()
        accepted = inspect.signature(model.forward).parameters
        self.input_names = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items() if k in self.input_names}
            return self.model(**inputs).logits.float().numpy()


class OnnxPredictor:
    """An ONNX Runtime CPU session; feeds only the inputs the graph declares (exports drop unused ones)."""

    kind = "onnx"

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DeployError(f"{path}: not a readable ONNX model ({first[:300]})") from None
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.path = path
        last = self.session.get_outputs()[0].shape[-1]
        #: Logits per row when the graph states it (exports do), else None.
        self.output_width: int | None = last if isinstance(last, int) else None

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise DeployError(f"{self.path}: the model needs input(s) {missing} that the tokenizer does not produce")
        feed = {n: np.ascontiguousarray(batch[n], dtype=np.int64) for n in self.input_names}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
