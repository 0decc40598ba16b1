"""The API process is killed in the middle of a job: is the job unaffected, and when do polls resume?

A fresh `distillery up` augments ROWS SST-2 rows; once AFTER shards are done the API (uvicorn) gets SIGKILL
(or SIGTERM with --signal TERM). `up` starts it again; the job lives in Redis and on the workers, so it must
go on untouched (no shard retried) and polls must resume. A poller reads the job every 100 ms throughout.

Usage (repository root): .venv/bin/python -m bench.reliability.api_restart [--rows 200 --shard 25 --n 4]
Output tees to bench/results/reliability/api_restart.txt. Exit 0 when every expectation held.
"""

from __future__ import annotations

import os
import signal
import time

from bench.reliability import harness
from bench.reliability.pollers import JobPoller


def main() -> int:
    parser = harness.augment_parser(__doc__, rows=200, timeout=900, workers=False)
    parser.add_argument("--after", type=int, default=2, help="shards done before the API is killed")
    parser.add_argument("--signal", choices=["KILL", "TERM"], default="KILL")
    args = parser.parse_args()
    report = harness.Report("api_restart")
    report(
        f"api_restart: {args.rows} rows, shards of {args.shard}, n={args.n}, SIG{args.signal} to the API "
        f"after {args.after} shards"
    )
    with harness.distillery_up(workers=1) as svc, svc.client() as client:
        dataset = harness.upload_sst2(client, args.rows)
        job_id = harness.submit_augmentation(client, harness.augment_body(dataset["id"], args))
        poller = JobPoller(svc.base, svc.auth, job_id).start()
        harness.wait_until(
            lambda: (
                (harness.job_or_none(client, job_id) or {"progress": {"shards_done": -1}})["progress"]["shards_done"]
                >= args.after
            ),
            args.timeout,
            f"{args.after} shards",
        )
        (pid,) = svc.descendants("uvicorn")
        os.kill(pid, getattr(signal, f"SIG{args.signal}"))
        killed = time.monotonic()
        harness.wait_until(lambda: poller.last_ok > killed, 120, "a 200 poll after the restart", interval=0.05)
        back_s = poller.last_ok - killed
        report(
            f"API pid {pid} killed; polls answered 200 again after {back_s:.2f} s "
            f"(new API pid {svc.descendants('uvicorn')})"
        )
        final = harness.wait_job(client, job_id, args.timeout)
        poller.stop()
        rows = len(harness.result_bytes(client, job_id).splitlines()) - 1 if final["status"] == "succeeded" else None
        events = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000}).json()["items"]
        retried = [e for e in events if e["kind"] == "retried"]
        up_alive = svc.proc.poll() is None
    report(
        f"job: {final['status']}, result rows {rows}, rows_out {(final['result'] or {}).get('rows_out')}, "
        f"shards retried: {len(retried)}"
    )
    report(f"polls: {poller.summary()}")
    fivexx = sum(n for s, n in poller.answers.items() if s.startswith("5"))
    expectations = {
        "job succeeded": final["status"] == "succeeded",
        "no shard retried (the job did not notice)": not retried,
        "result rows == rows_out": rows == (final["result"] or {}).get("rows_out"),
        "no 5xx answer (only refused connections while the API was down)": fivexx == 0,
        "up stayed up": up_alive,
    }
    return report.finish(
        expectations,
        f"api_restart: job {final['status']}, {len(retried)} shards retried, polls resumed after "
        f"{back_s:.2f} s, {fivexx} 5xx",
    )


if __name__ == "__main__":
    raise SystemExit(main())
