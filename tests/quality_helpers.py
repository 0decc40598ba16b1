"""Running the quality benchmark driver (bench/quality/run.py) from the tests, on tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def run_driver(
    encoder: Path, mlm: Path, results: Path, cache: Path, *extra: str, profile: str = "smoke"
) -> subprocess.CompletedProcess:
    """`python -m bench.quality.run --profile smoke` (or ``profile``) on the tiny models; it must exit 0."""
    cmd = [sys.executable, "-m", "bench.quality.run", "--profile", profile, *extra, "--base-model", str(encoder)]
    cmd += ["--mlm-model", str(mlm), "--results", str(results), "--cache", str(cache)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, env=env
    )  # 6 students x 3 variants x 2 tasks + 3 general distillations
    assert done.returncode == 0, done.stderr[-3000:]
    return done
