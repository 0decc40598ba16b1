"""`distillery export` and the jobs' exports: a model folder -> a deployable folder with an ``export.json``.

The folder holds ``model.onnx`` (fp32), ``model-int8.onnx`` (dynamic int8, unless ``quantize='none'``), the
tokenizer files and ``config.json``. ``export.json`` records each file's size, the largest logit difference
from PyTorch on N rows (and how often the predicted class agrees), and with a labelled check file the task's
metrics of PyTorch and of each file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared.atomic import atomic_write
from shared.settings import get_settings
from shared.tasks import TaskPreset, get_task
from workers.deploy.errors import DeployError
from workers.deploy.inference import predict_logits, task_metrics
from workers.deploy.inputs import labelled_examples, max_seq_len_for, text_examples
from workers.deploy.loading import (
    ONNX_NAME,
    TOKENIZER_FILES,
    LoadedModel,
    label_names,
    load_tokenizer,
    load_torch_classifier,
    read_config,
)
from workers.deploy.onnx_export import export_onnx
from workers.deploy.predictors import OnnxPredictor, TorchPredictor
from workers.deploy.quantize import quantize_int8
from workers.deploy.task_fit import fit_to_task, task_order
from workers.distill.data import Example

INT8_NAME = "model-int8.onnx"
REPORT_NAME = "export.json"
#: Sentences whose logits are compared when no check file is given (varied lengths, punctuation, case).
CHECK_SENTENCES = (
    "a gripping, beautifully acted film.",
    "The plot never comes together and the jokes fall flat.",
    "it is neither good nor bad",
    "An unexpectedly moving story about two brothers who rebuild their father's boat over one long summer.",
    "Worst. Movie. Ever!",
    "I would watch it again tomorrow",
    "the soundtrack is fine ; the dialogue is not",
    "?",
)


@dataclass
class ExportOptions:
    """What to write and check; ``check`` is a labelled file of ``task`` (its rows also feed the logit diff)."""

    quantize: Literal["int8", "none"] = "int8"
    check: Path | None = None
    task: str | None = None
    text_columns: Sequence[str] | None = None
    label_column: str | None = None
    check_rows: int | None = None
    max_seq_len: int | None = None  # tokens per check row; None: the task's default (a job passes its own)
    batch_size: int | None = None
    opset: int | None = None
    threads: int = 0


def _copy_side_files(folder: Path, out: Path) -> None:
    """config.json and the tokenizer files beside the ONNX files, so the folder stands on its own."""
    names = ["config.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", *TOKENIZER_FILES]
    for name in dict.fromkeys(names):
        if (folder / name).is_file() and folder.resolve() != out.resolve():
            shutil.copy2(folder / name, out / name)


def _check_examples(
    tokenizer: Any, opts: ExportOptions, config: dict[str, Any]
) -> tuple[list[Example], TaskPreset | None, int]:
    """The labelled check file's rows, or the built-in sentences when there is none; and their token budget."""
    if opts.check is None:
        length = max_seq_len_for(None, False, opts.max_seq_len, config)
        return text_examples(tokenizer, CHECK_SENTENCES, length), None, length
    if not opts.task:
        raise DeployError("--check needs --task (which metrics to compute and how to read the labels)")
    preset = get_task(opts.task)
    length = max_seq_len_for(preset, preset.is_pair, opts.max_seq_len, config)
    examples = labelled_examples(tokenizer, opts.check, preset, length, opts.text_columns, opts.label_column, config)
    return examples, preset, length


def _remove_earlier_export(out: Path) -> None:
    """An earlier run's ONNX files and report go before anything is written: a run with ``quantize='none'``
    must not leave an old int8 file beside its report, nor a failed run a mix of old and new files."""
    for name in (REPORT_NAME, INT8_NAME, ONNX_NAME):
        (out / name).unlink(missing_ok=True)


def _file_report(
    model: LoadedModel, reference: np.ndarray, examples: list[Example], preset: TaskPreset | None, batch: int
) -> dict[str, Any]:
    """Logit agreement with PyTorch on the first N rows, and the metrics over the whole check file."""
    n = len(reference)
    logits = predict_logits(model, examples, batch)
    report: dict[str, Any] = {"max_abs_logit_diff": float(np.max(np.abs(logits[:n] - reference)))}
    if reference.shape[-1] > 1:  # classes: how often the file picks PyTorch's class
        report["same_prediction"] = float(np.mean(logits[:n].argmax(-1) == reference.argmax(-1)))
    if preset is not None:
        report["dev"] = task_metrics(logits, examples, preset)
    return report


def export_model(
    model_dir: str | Path, out_dir: str | Path, opts: ExportOptions, log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Export, quantize, check and describe; returns export.json's content. DeployError names a bad input."""
    s = get_settings()
    folder, out = Path(model_dir), Path(out_dir)
    config = read_config(folder, required=True)
    tokenizer = load_tokenizer(folder)
    batch = opts.batch_size or s.deploy_batch_size
    examples, preset, length = _check_examples(tokenizer, opts, config)
    labels = label_names(config)
    if preset is not None:
        task_order(labels, preset, folder)  # a head that cannot be scored on the task is refused before any work
    torch_model = load_torch_classifier(folder)
    pytorch = _fit(LoadedModel(TorchPredictor(torch_model, opts.threads), tokenizer, labels, folder, config), preset)
    out.mkdir(parents=True, exist_ok=True)
    _remove_earlier_export(out)
    log(f"exporting {folder} to {out / ONNX_NAME}")
    inputs = export_onnx(torch_model, tokenizer, out / ONNX_NAME, opts.opset or s.onnx_opset)
    reference_all = predict_logits(pytorch, examples, batch)
    reference = reference_all[: opts.check_rows or s.export_check_rows]
    files = [ONNX_NAME]
    if opts.quantize == "int8":
        log(f"quantizing to {out / INT8_NAME} (dynamic int8)")
        quantize_int8(out / ONNX_NAME, out / INT8_NAME)
        files.append(INT8_NAME)
    _copy_side_files(folder, out)
    report = _report_head(folder, out, inputs, opts, len(reference), s.onnx_opset)
    report["check"]["max_seq_len"] = length
    report["pytorch"] = {"bytes": _weights_bytes(folder)}
    if preset is not None:
        report["pytorch"]["dev"] = task_metrics(reference_all, examples, preset)
    for name in files:
        log(f"checking {name}")
        onnx_model = _fit(
            LoadedModel(OnnxPredictor(out / name, opts.threads), tokenizer, labels, out / name, config), preset
        )
        report["files"][name] = {"bytes": (out / name).stat().st_size}
        report["files"][name].update(_file_report(onnx_model, reference, examples, preset, batch))
    with atomic_write(out / REPORT_NAME, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    return report


def _fit(model: LoadedModel, preset: TaskPreset | None) -> LoadedModel:
    """With a check task: the logits in the task's label order (fit_to_task), so its metrics score them right."""
    return model if preset is None else fit_to_task(model, preset)


def _weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())


def _report_head(
    folder: Path, out: Path, inputs: list[str], opts: ExportOptions, check_rows: int, opset: int
) -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "source": str(folder),
        "output": str(out),
        "opset": opts.opset or opset,
        "inputs": inputs,
        "outputs": ["logits"],
        "quantization": "dynamic int8 (onnxruntime.quantization.quantize_dynamic)" if opts.quantize == "int8" else None,
        "check": {
            "file": str(opts.check) if opts.check else "built-in sentences",
            "task": opts.task,
            "rows": check_rows,
        },
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "files": {},
    }
