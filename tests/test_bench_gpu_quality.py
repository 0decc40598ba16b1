"""bench/gpu_quality.sh: the device side of a quality run on a lent GPU machine (bench/gpu_quality_carry.py packs
the parts). What runs without a GPU is tested here: parts received one call at a time, and a usage error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT


def run_script(*args: str, gq: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GQ": str(gq)}
    return subprocess.run(
        ["bash", "bench/gpu_quality.sh", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_parts_received_in_separate_calls_join_into_the_original_bytes(tmp_path: Path) -> None:
    original = os.urandom(3000)
    for number, start in ((1, 0), (2, 1200)):
        folder = tmp_path / f"{number:02d}"
        folder.mkdir()
        (folder / f"part-{number:02d}").write_bytes(original[start : start + 1200] if number == 1 else original[start:])
        done = run_script("receive", str(folder), gq=tmp_path / "gq")
        assert done.returncode == 0, done.stderr
    parts = sorted((tmp_path / "gq" / "parts").iterdir())
    assert [p.name for p in parts] == ["part-01", "part-02"]
    assert b"".join(p.read_bytes() for p in parts) == original


def test_an_unknown_command_prints_the_usage_and_exits_2(tmp_path: Path) -> None:
    done = run_script("unpack", gq=tmp_path / "gq")
    assert done.returncode == 2
    assert "receive DIR" in done.stdout and "run OUT [PROFILE]" in done.stdout
