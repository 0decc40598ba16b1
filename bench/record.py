"""Every figure the docs quote must have its printed output committed: bench scripts tee what they print to
``bench/results/<bench>/<UTC time>.txt``, headed by the exact command, the commit and the machine.

Used as ``with recorded("distill_bench"): ...`` around a script's main work; the shell walkthroughs do the same
through bench/record.sh. bench/results/ is committed (bench/results/README.md), bench/out/ stays scratch.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


class _Tee:
    """A text stream that writes to the terminal and to the record file at once."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


#: The flags that decide how fast the engines' bf16/int8 kernels can be; printed in every record's header.
SPEED_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def cpu_model_and_flags() -> tuple[str, frozenset[str]]:
    """The CPU's model name and all its flags (the first of each in Linux /proc/cpuinfo; 'unknown' and none
    elsewhere). Standard library only: bench/record.sh calls this module from the system python."""
    name: str | None = None
    flags: frozenset[str] = frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name is None:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = frozenset(value.split())
    except OSError:
        pass
    return name or platform.processor() or "unknown", flags


def cpu_line() -> str:
    """The CPU's model name and which of SPEED_FLAGS it has."""
    name, flags = cpu_model_and_flags()
    present = ", ".join(f for f in SPEED_FLAGS if f in flags)
    return f"{name}; flags: {present or 'none of ' + ', '.join(SPEED_FLAGS)}"


def header(argv: list[str]) -> str:
    """The lines that make a record reproducible: command, UTC time, commit, machine, load average."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"# command: {shlex.join(argv)}\n# date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        f"# commit: {commit or 'unknown'}\n# machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load} at start\n# cpu: {cpu_line()}\n"
    )


def record_path(bench: str, root: Path = RESULTS) -> Path:
    folder = root / bench
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.txt"


@contextmanager
def recorded(bench: str, argv: list[str] | None = None, root: Path = RESULTS) -> Iterator[Path]:
    """Tee stdout and stderr into a new record of ``bench`` under ``root``; yields its path (printed at the end)."""
    path = record_path(bench, root)
    command = ["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]] if argv is None else argv
    with open(path, "w", encoding="utf-8") as record:
        record.write(header(command))
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old[0], record), _Tee(old[1], record)
        try:
            yield path
        finally:
            sys.stdout, sys.stderr = old
    print(f"recorded: {os.path.relpath(path, REPO)}")
