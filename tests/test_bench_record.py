"""bench/record.py: what a bench prints reaches the terminal and a record headed by the command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.record import recorded


def test_printed_output_is_teed_into_a_headed_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with recorded("smoke", ["python", "bench/x.py", "--rows", "8"], root=tmp_path) as path:
        print("overall samples/s 1.0")
        print("a warning", file=sys.stderr)
    assert path.parent == tmp_path / "smoke" and path.suffix == ".txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# command: python bench/x.py --rows 8"
    assert [line.split(":")[0] for line in lines[1:4]] == ["# date", "# commit", "# machine"]
    assert "load average" in lines[3]
    assert lines[4:] == ["overall samples/s 1.0", "a warning"]
    out = capsys.readouterr()
    assert "overall samples/s 1.0" in out.out and "a warning" in out.err  # the terminal still sees everything
    assert "recorded: " in out.out
