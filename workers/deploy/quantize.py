"""fp32 ONNX -> int8 ONNX with ONNX Runtime's dynamic quantization.

Weights are stored as int8 and activations are quantized per batch at run time, so no calibration data is
needed and the result runs on any ONNX Runtime CPU build. The graph first goes through ONNX Runtime's
pre-processing (shape inference, constant folding) when that succeeds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from shared.atomic import atomic_path
from workers.deploy.errors import DeployError


def _preprocessed(source: Path, folder: Path) -> Path:
    """The pre-processed copy of ``source`` in ``folder``, or ``source`` itself when pre-processing fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = folder / "pre.onnx"
    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    except Exception:  # optional optimisation: quantizing the plain graph is still correct
        return source
    return target


def quantize_int8(source: Path, target: Path) -> None:
    """Write ``target``, the dynamically int8-quantized form of ``source`` (atomically)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        onnx.checker.check_model(str(source))
    except Exception as exc:  # onnx raises several types for unreadable files
        raise DeployError(f"{source}: not a valid ONNX model ({str(exc).splitlines()[0][:300]})") from None
    with tempfile.TemporaryDirectory() as work, atomic_path(target) as tmp:
        prepared = _preprocessed(source, Path(work))
        quantize_dynamic(str(prepared), str(tmp), weight_type=QuantType.QInt8)
