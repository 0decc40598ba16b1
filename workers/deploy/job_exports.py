"""The ONNX exports a distillation job (and so a pipeline) hands back beside its PyTorch folder.

After training, the student folder is exported to ``<job>/onnx/`` (the caller names the folder) (fp32 and dynamic int8), checked on the
job's dev set when it has one, and summarised in report.json's ``exports`` section and in the job's result.
An export that fails leaves the trained student usable: the job still succeeds and records why.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.dataset_io import DatasetError, atomic_write_text
from workers.deploy.errors import DeployError
from workers.deploy.export_run import ExportOptions, export_model


def export_job_model(
    model_dir: Path,
    out: Path,
    task: str,
    dev: Path | None,
    text_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    max_seq_len: int | None = None,
) -> dict[str, Any]:
    """Export ``model_dir`` to ``out``; returns the ``exports`` section (also written into report.json). The checks
    run at ``max_seq_len``, by default the length the model was trained with (its report.json)."""
    opts = ExportOptions(
        check=dev,
        task=task if dev else None,
        text_columns=text_columns,
        label_column=label_column,
        max_seq_len=max_seq_len or trained_max_seq_len(model_dir),
    )
    try:
        report = export_model(model_dir, out, opts, log=log)
    except (DeployError, DatasetError) as exc:
        section: dict[str, Any] = {"error": str(exc)}
    except Exception as exc:  # a bug in an optional step must not lose the trained student
        log(traceback.format_exc()[-2000:])
        section = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        section = {
            "folder": out.name,
            "checked_on": report["check"],
            "pytorch": report["pytorch"],
            "files": report["files"],
        }
    _add_to_report(model_dir / "report.json", section)
    return section


def trained_max_seq_len(model_dir: Path) -> int | None:
    """``config.max_seq_len`` of the run that saved ``model_dir`` (report.json), None when it is not recorded."""
    try:
        value = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))["config"]["max_seq_len"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _add_to_report(path: Path, section: dict[str, Any]) -> None:
    """report.json gains ``exports`` (written atomically; a missing report gets none)."""
    if not path.is_file():
        return
    report = json.loads(path.read_text(encoding="utf-8"))
    report["exports"] = section
    atomic_write_text(path, [json.dumps(report, indent=2) + "\n"])
