"""Tiny real classifiers and their exports for the deploy tests (helpers, not a test module)."""

from __future__ import annotations

from pathlib import Path

from tests.distill_helpers import glue_sample, make_tiny_teacher
from workers.deploy.export_run import ExportOptions, export_model


def tiny_export(root: Path, glue_dir: Path, task: str = "sst-2", folder: str = "SST-2", rows: int = 40) -> dict:
    """A tiny classifier of ``task``, a dev sample, and its export checked on that sample."""
    model = make_tiny_teacher(root / "model", task=task)
    dev = glue_sample(glue_dir, folder, "dev", rows, root / "dev.tsv")
    report = export_model(model, root / "export", ExportOptions(check=dev, task=task))
    return {"model": model, "dev": dev, "export": root / "export", "report": report}
