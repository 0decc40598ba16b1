"""Polling under load: CLIENTS concurrent pollers read GET /v1/jobs/{id} for SECONDS while the workers run.

A fresh `distillery up` (WORKERS augment workers, API_WORKERS uvicorn processes) gets a dataset and JOBS
augmentation jobs that keep the workers busy; then CLIENTS keep-alive clients (bench.reliability.loadgen,
spread over PROCESSES processes) poll those jobs as fast as they are answered. The figure: polls per second,
p50 and p99 latency, errors. Target (issue 14): >= 1,000 polls/s, p99 < 250 ms, 0 errors with 200 pollers,
1 worker, on 2 cores.

Usage (repository root): .venv/bin/python -m bench.reliability.polling [--clients 200 --seconds 60]
Output tees to bench/results/reliability/polling.txt. Exit 0 when there was no error.
"""

from __future__ import annotations

from bench.reliability.harness import (
    Report,
    augment_body,
    augment_parser,
    distillery_up,
    submit_augmentation,
    upload_sst2,
)
from bench.reliability.loadgen import run_load


def main() -> int:
    parser = augment_parser(__doc__, rows=400)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn processes (DISTILLERY_API_WORKERS)")
    parser.add_argument("--jobs", type=int, default=4, help="jobs polled (they keep the workers busy)")
    args = parser.parse_args()
    report = Report("polling")
    report(
        f"polling: {args.clients} pollers over {args.processes} processes for {args.seconds:g} s; up with "
        f"{args.workers} worker(s), {args.api_workers} API process(es); {args.jobs} running jobs polled"
    )
    env = {"DISTILLERY_API_WORKERS": str(args.api_workers)}
    with distillery_up(workers=args.workers, **env) as svc, svc.client() as client:
        dataset = upload_sst2(client, args.rows)
        body = augment_body(dataset["id"], args)
        paths = [f"/v1/jobs/{submit_augmentation(client, body)}" for _ in range(args.jobs)]
        result = run_load(svc.base, svc.key, paths, args.clients, args.seconds, args.processes)
        statuses = [client.get(p).json()["status"] for p in paths]
    report(f"polls: {result.summary()}")
    report(f"jobs polled were: {statuses}")
    rate = len(result.latencies_ms) / result.seconds if result.seconds else 0.0
    met = rate >= 1000 and result.percentile(99) < 250 and result.errors == 0
    report(
        f"FIGURE polling: {rate:.0f} polls/s, p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms, "
        f"{result.errors} errors ({args.clients} pollers, {args.workers} worker, {args.api_workers} API process); "
        f"target met: {met}"
    )
    report.save()
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
