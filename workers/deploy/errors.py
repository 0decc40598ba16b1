"""The error a user can fix when loading, exporting or running a model; the CLI exits 2 with its message."""

from __future__ import annotations


class DeployError(ValueError):
    """A bad model folder, tokenizer or ONNX file, stated with the path so the user can fix it."""
