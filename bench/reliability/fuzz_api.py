"""The API contract under schemathesis: `st run --checks all` against a fresh `distillery up`, enough cases
for the target (>= 1,000 generated, 0 failures). Output tees to bench/results/reliability/fuzz_api.txt.

Usage (repository root): .venv/bin/python -m bench.reliability.fuzz_api [--max-examples 60] [--seed N]
The repository's schemathesis.toml is used (it says why POST /v1/datasets may answer 422 to schema-valid
bytes); every check runs. Exit status: schemathesis's (0 = no failure).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.reliability.harness import REPO_ROOT, Report, distillery_up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", "-n", type=int, default=60, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, help="schemathesis seed (default: random, printed)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before the run is stopped")
    args = parser.parse_args()
    report = Report("fuzz_api")
    st = Path(sys.executable).parent / "st"
    with distillery_up(workers=1) as svc:
        cmd = [str(st), "--config-file", str(REPO_ROOT / "schemathesis.toml"), "run", f"{svc.base}/openapi.json"]
        cmd += ["-H", f"Authorization: Bearer {svc.key}", "--checks", "all", "-n", str(args.max_examples)]
        cmd += ["--generation-database", "none", "--no-color"] + (["--seed", str(args.seed)] if args.seed else [])
        shown = " ".join(cmd).replace(svc.key, "KEY")
        report(f"$ {shown}")
        try:
            run = subprocess.run(
                cmd,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            )
            output, code = run.stdout + run.stderr, run.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"{exc.stdout or ''}\nstopped after {args.timeout:.0f}s", 124
    for line in output.replace(svc.key, "KEY").splitlines():
        report(line)
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) unique failures?", output)
    report(
        f"FIGURE fuzz_api: {cases.group(1) if cases else '?'} cases generated, "
        f"{failures.group(1) if failures else 0} unique failures, exit {code}"
    )
    report.save()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
