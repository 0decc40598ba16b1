"""bench/record.py: what a bench prints reaches the terminal and a record headed by the command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.record import SPEED_FLAGS, cpu_line, recorded


def test_printed_output_is_teed_into_a_headed_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with recorded("smoke", ["python", "bench/x.py", "--rows", "8"], root=tmp_path) as path:
        print("overall samples/s 1.0")
        print("a warning", file=sys.stderr)
    assert path.parent == tmp_path / "smoke" and path.suffix == ".txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# command: python bench/x.py --rows 8"
    assert [line.split(":")[0] for line in lines[1:5]] == ["# date", "# commit", "# machine", "# cpu"]
    assert "load average" in lines[3]
    assert lines[5:] == ["overall samples/s 1.0", "a warning"]
    out = capsys.readouterr()
    assert "overall samples/s 1.0" in out.out and "a warning" in out.err  # the terminal still sees everything
    assert "recorded: " in out.out


def test_the_cpu_line_names_exactly_the_speed_flags_this_cpu_has() -> None:
    """Figures are compared across machines with and without bf16/AMX, so each record says which it ran on."""
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    flags = set(next(line for line in cpuinfo.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    model = next(line for line in cpuinfo.splitlines() if line.startswith("model name")).split(":", 1)[1].strip()
    name, listed = cpu_line().split("; flags: ")
    assert name == model
    present = [f for f in SPEED_FLAGS if f in flags]
    assert listed == (", ".join(present) if present else "none of " + ", ".join(SPEED_FLAGS))
