"""Shared fixtures. Nothing here is fake: real files, real tokenizers, real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
GLUE_DIR = SHARED_DIR / "data" / "glue"


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """../shared/data/glue; tests that need it are skipped only where the folder is truly absent."""
    if not GLUE_DIR.is_dir():
        pytest.skip("../shared/data/glue is absent")
    return GLUE_DIR
