"""Embedded Redis gets SIGKILL in the middle of an augmentation; what do clients see, and how does it end?

A fresh `distillery up` augments ROWS SST-2 rows in shards of SHARD rows; once KILL_AFTER shards are done,
the embedded redis-server is SIGKILLed (KILLS times, each after KILL_AFTER more shards). A poller reads the
job every 100 ms throughout. Wanted: `up` restarts Redis (same URL, from its append-only file), polls see
only 200 and 503, the job ends succeeded (or failed with an error object), never stuck running, and the
dataset and the finished job are still there; `up` itself stays up.

Usage (repository root): .venv/bin/python -m bench.reliability.redis_kill [--rows 400 --shard 25 --n 4]
Output tees to bench/results/reliability/redis_kill.txt. Exit 0 when every expectation held.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from bench.reliability import harness
from bench.reliability.pollers import JobPoller


def parse() -> argparse.Namespace:
    parser = harness.augment_parser(__doc__, rows=400, timeout=900)
    parser.add_argument("--kill-after", type=int, default=3, help="shards done before each kill")
    parser.add_argument("--kills", type=int, default=1)
    return parser.parse_args()


def main() -> int:
    args = parse()
    report = harness.Report("redis_kill")
    report(
        f"redis_kill: {args.rows} rows, shards of {args.shard}, n={args.n}, {args.workers} worker(s), "
        f"{args.kills} kill(s) of the embedded Redis, each after {args.kill_after} more shards"
    )
    with harness.distillery_up(workers=args.workers) as svc, svc.client() as client:
        dataset = harness.upload_sst2(client, args.rows)
        job = client.post("/v1/augmentations", json=harness.augment_body(dataset["id"], args)).raise_for_status().json()
        poller = JobPoller(svc.base, svc.auth, job["id"]).start()
        deadline = time.monotonic() + args.timeout
        gaps = []
        for kill in range(1, args.kills + 1):
            target = kill * args.kill_after
            harness.wait_until(
                lambda t=target: poller_job(client, job["id"])["progress"]["shards_done"] >= t,
                max(1.0, deadline - time.monotonic()),
                f"{target} shards",
            )
            (pid,) = svc.descendants("redis-server")
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            report(f"kill {kill}: SIGKILL redis-server (pid {pid}) after {target} shards")
            harness.wait_until(lambda k=killed: poller.last_ok > k, 120, "a 200 poll after the kill", interval=0.05)
            gaps.append(poller.last_ok - killed)
            new = svc.descendants("redis-server")
            report(f"  polls answered 200 again {gaps[-1]:.2f} s after the kill; redis-server now pid {new}")
        final = harness.wait_job(client, job["id"], max(1.0, deadline - time.monotonic()), tolerate=(503,))
        poller.stop()
        up_alive = svc.proc.poll() is None
        result_rows = None
        if final["status"] == "succeeded":
            text = client.get(f"/v1/jobs/{job['id']}/result").raise_for_status().text
            result_rows = len(text.splitlines()) - 1
        still = client.get(f"/v1/datasets/{dataset['id']}").status_code
        restarts = svc.log_text().count("embedded Redis is back")
    report(f"job: {final['status']}" + (f" ({final['error']})" if final["error"] else ""))
    report(
        f"  rows in {final['progress']['total']}, result rows {result_rows}, "
        f"rows_out {(final['result'] or {}).get('rows_out')}"
    )
    report(f"polls: {poller.summary()}; unexpected (not 200/503): {poller.unexpected()}")
    report(f"up still running: {up_alive}; Redis restarts logged by up: {restarts}; dataset still there: {still}")
    expectations = {
        "job ended succeeded, or failed with an error object": final["status"] == "succeeded"
        or (final["status"] == "failed" and bool(final["error"])),
        "result rows == rows_out": final["status"] != "succeeded"
        or result_rows == (final["result"] or {}).get("rows_out"),
        "no poll answered other than 200/503": poller.unexpected() == 0,
        "up stayed up": up_alive,
        "up restarted Redis each time": restarts == args.kills,
        "the dataset survived": still == 200,
    }
    worst = max(gaps) if gaps else float("nan")
    return report.finish(
        expectations,
        f"redis_kill: job {final['status']}, {poller.answers.get('503', 0)} polls 503, "
        f"{poller.unexpected()} other errors, back within {worst:.2f} s, up alive: {up_alive}",
    )


def poller_job(client, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The job, or a job-shaped placeholder while the API answers 503."""
    r = client.get(f"/v1/jobs/{job_id}")
    if r.status_code == 503:
        return {"progress": {"shards_done": -1}}
    return r.raise_for_status().json()


if __name__ == "__main__":
    raise SystemExit(main())
