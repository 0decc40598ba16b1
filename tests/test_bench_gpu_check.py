"""bench/gpu_check.sh --dry-run: the GPU check's CPU fallback runs every step end to end, so the script
never rots before a GPU machine runs it for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_gpu_check_dry_run_prints_the_table(tmp_path: Path) -> None:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    cmd = ["bash", "bench/gpu_check.sh", "--dry-run", "--python", sys.executable, "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (tmp_path / "out" / "table.md").read_text()
    columns = "samples_per_s | rows_per_s | mlm_seconds | peak_gpu_mib | dev_accuracy | seconds"
    assert f"| step | device | bf16 | {columns} |" in table
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    steps = [r["step"] for r in rows]
    assert steps[0] == "fine-tune MiniLM-L6" and steps[1].startswith("augment 6 rows")
    assert steps[2:] == ["distil stage 1 + 2", "torchrun, 2 processes", "kill after 1st checkpoint, resume"]
    assert all(r["device"].startswith("cpu") for r in rows)
    assert (
        rows[1]["rows_per_s"] > 0
        and 0 < rows[1]["mlm_seconds"] <= rows[1]["seconds"]
        and 0.0 <= rows[2]["dev_accuracy"] <= 1.0
    )
    assert (tmp_path / "out" / "log.txt").read_text().count("[gpu_check]") == len(rows)
