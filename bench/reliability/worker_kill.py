"""An augmentation worker gets SIGKILL in the middle of a shard: is the output byte-identical to an
unfaulted run, and how long until the shard is retried?

A fresh `distillery up` runs the same augmentation twice (same dataset, params and seed): once untouched,
once with every augmentation worker SIGKILLed while a shard is part-way (after AFTER shards). `up` restarts
the workers; RQ retries the dead worker's shard once its heartbeat entry expires (DISTILLERY_JOB_HEARTBEAT_TTL_S
plus DISTILLERY_WORKER_MAINTENANCE_S, shipped 60 s + 15 s). The figure: both results' SHA-256, equal or not.

Usage (repository root): .venv/bin/python -m bench.reliability.worker_kill [--rows 200 --shard 25 --n 4]
Output tees to bench/results/reliability/worker_kill.txt. Exit 0 when the bytes match.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time

from bench.reliability import harness


def main() -> int:
    parser = harness.augment_parser(__doc__, rows=200, timeout=1200)
    parser.add_argument("--after", type=int, default=2, help="the shard (0-based) killed part-way")
    parser.add_argument("--heartbeat-ttl", type=int, help="DISTILLERY_JOB_HEARTBEAT_TTL_S (default: shipped)")
    args = parser.parse_args()
    env = {}
    if args.heartbeat_ttl:
        env = {"DISTILLERY_JOB_HEARTBEAT_TTL_S": str(args.heartbeat_ttl), "DISTILLERY_WORKER_MAINTENANCE_S": "5"}
    report = harness.Report("worker_kill")
    report(
        f"worker_kill: {args.rows} rows, shards of {args.shard}, n={args.n}, {args.workers} worker(s), "
        f"SIGKILL of every augment worker while shard {args.after} is part-way; settings {env or 'shipped'}"
    )
    with harness.distillery_up(workers=args.workers, **env) as svc, svc.client() as client:
        dataset = harness.upload_sst2(client, args.rows)
        body = harness.augment_body(dataset["id"], args, seed=7)
        t0 = time.monotonic()
        clean_id = harness.submit_augmentation(client, body)
        clean = harness.wait_job(client, clean_id, args.timeout)
        clean_s = time.monotonic() - t0
        clean_bytes = harness.result_bytes(client, clean_id) if clean["status"] == "succeeded" else b""
        report(f"unfaulted: {clean['status']} in {clean_s:.1f} s, {len(clean_bytes)} bytes")

        t0 = time.monotonic()
        faulted_id = harness.submit_augmentation(client, body)
        # shard AFTER has started; wait a third of an unfaulted shard's time so it is part-way
        harness.wait_until(
            lambda: harness.shard_running(client, faulted_id, args.after), args.timeout, "the shard", interval=0.05
        )
        time.sleep(clean_s / clean["progress"]["shards_total"] / args.workers / 3)
        part_way = harness.shard_running(client, faulted_id, args.after)
        pids = svc.descendants("--queue augment")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        report(
            f"killed augment workers {pids} {time.monotonic() - t0:.1f} s into the faulted run, "
            f"shard {args.after} {'part-way' if part_way else 'ALREADY DONE (kill came late)'}"
        )
        faulted = harness.wait_job(client, faulted_id, args.timeout)
        faulted_s = time.monotonic() - t0
        faulted_bytes = harness.result_bytes(client, faulted_id) if faulted["status"] == "succeeded" else b""
        events = client.get(f"/v1/jobs/{faulted_id}/events", params={"limit": 1000}).json()["items"]
        retried = [
            e["message"]
            for e in events
            if e["kind"] in ("retried", "shard_started") and "attempt 1" not in e["message"]
        ]
    digest = lambda b: hashlib.sha256(b).hexdigest()[:16]  # noqa: E731
    same = bool(clean_bytes) and clean_bytes == faulted_bytes
    report(f"faulted: {faulted['status']} in {faulted_s:.1f} s, {len(faulted_bytes)} bytes")
    for message in retried:
        report(f"  event: {message}")
    report(
        f"sha256 unfaulted {digest(clean_bytes)}, faulted {digest(faulted_bytes)}: {'identical' if same else 'DIFFERENT'}"
    )
    report(
        f"FIGURE worker_kill: output {'byte-identical' if same else 'DIFFERENT'} "
        f"({len(faulted_bytes)} bytes); faulted run {faulted_s:.1f} s vs {clean_s:.1f} s unfaulted"
    )
    report.save()
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
