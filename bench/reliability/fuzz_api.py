"""The API contract under schemathesis: `st run --checks all` against a fresh `distillery up`, enough cases
for the target (>= 1,000 generated, 0 failures). Output tees to bench/results/reliability/fuzz_api.txt.

Usage (repository root): .venv/bin/python -m bench.reliability.fuzz_api [--max-examples 60] [--seed N]
The repository's schemathesis.toml is used (it says why POST /v1/datasets may answer 422 to schema-valid
bytes); every check runs. Exit status: schemathesis's (0 = no failure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bench.reliability.harness import (
    MLM_DIR,
    REPO_ROOT,
    Report,
    Service,
    distillery_up,
    submit_augmentation,
    upload_sst2,
    wait_job,
)


def seeded_config(svc: Service) -> Path:
    """The repository's schemathesis.toml plus dictionaries of real ids (3 datasets, 1 finished job) that
    half of the generated dataset and job ids are drawn from, so requests get past the 404s."""
    with svc.client() as client:
        datasets = [upload_sst2(client, 5)["id"] for _ in range(3)]
        body = {"dataset_id": datasets[0], "n": 1, "shard_rows": 5, "mlm_model": str(MLM_DIR)}
        job = submit_augmentation(client, body)
        wait_job(client, job, 600)
    lines = [
        f"[dictionaries.datasets]\nvalues = {json.dumps(datasets)}",
        f"[dictionaries.jobs]\nvalues = {json.dumps([job])}",
        "[parameters]",
        *(
            f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}'
            for key, name in (
                ("path.dataset_id", "datasets"),
                ("path.job_id", "jobs"),
                ("body.dataset_id", "datasets"),
                ("body.train.dataset_id", "datasets"),
            )
        ),
    ]
    config = svc.data_dir.parent / "schemathesis-seeded.toml"
    config.write_text("\n".join(lines) + "\n\n" + (REPO_ROOT / "schemathesis.toml").read_text())
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", "-n", type=int, default=60, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, help="schemathesis seed (default: random, printed)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before the run is stopped")
    parser.add_argument(
        "--seed-data",
        action="store_true",
        help="upload datasets and run a job first, and have half the generated ids be theirs (deeper paths)",
    )
    args = parser.parse_args()
    report = Report("fuzz_api-seeded" if args.seed_data else "fuzz_api")
    st = Path(sys.executable).parent / "st"
    with distillery_up(workers=1) as svc:
        config = seeded_config(svc) if args.seed_data else REPO_ROOT / "schemathesis.toml"
        cmd = [str(st), "--config-file", str(config), "run", f"{svc.base}/openapi.json"]
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
