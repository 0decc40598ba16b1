"""A burst of submissions, then polling while the workers run: is every submission accounted for?

A fresh `distillery up` gets one small dataset; CLIENTS concurrent clients send SUBMISSIONS augmentation
requests as fast as they are answered. Every answer must be 202 (a job id) or 429 (a quota said no, with
Retry-After); the ids must be distinct, and the team's job list must hold exactly the accepted ones: none
lost, none duplicated. Then POLLERS concurrent pollers read those jobs for POLL_SECONDS while the workers
run them (bench.reliability.loadgen): p50/p99 latency and errors.

Usage (repository root): .venv/bin/python -m bench.reliability.burst [--submissions 1000 --clients 50]
Output tees to bench/results/reliability/burst.txt. Exit 0 when every expectation held.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from bench.reliability.harness import Report, augment_body, augment_parser, distillery_up, upload_sst2
from bench.reliability.loadgen import run_load


async def submit_all(base: str, auth: dict[str, str], body: dict[str, Any], total: int, clients: int) -> tuple:
    """Send ``total`` submissions over ``clients`` concurrent connections; (answers by status, ids, seconds)."""
    answers: Counter[str] = Counter()
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            try:
                r = await http.post("/v1/augmentations", json=body)
            except httpx.HTTPError as exc:
                answers[f"transport:{type(exc).__name__}"] += 1
                continue
            answers[str(r.status_code)] += 1
            if r.status_code == 202:
                ids.append(r.json()["id"])

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return answers, ids, time.monotonic() - started


def listed_ids(client: httpx.Client) -> list[str]:
    """Every job id of the team, through the paged list."""
    ids: list[str] = []
    while True:
        page = client.get("/v1/jobs", params={"offset": len(ids), "limit": 500}).raise_for_status().json()
        ids += [job["id"] for job in page["items"]]
        if not page["items"] or len(ids) >= page["total"]:
            return ids


def main() -> int:
    parser = augment_parser(__doc__, rows=20, shard=10, n=2)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--poll-seconds", type=float, default=60)
    parser.add_argument(
        "--max-active-jobs", type=int, help="DISTILLERY_MAX_ACTIVE_JOBS (default: shipped, 20: most answers are 429)"
    )
    args = parser.parse_args()
    report = Report("burst")
    report(
        f"burst: {args.submissions} submissions from {args.clients} clients, then {args.pollers} pollers for "
        f"{args.poll_seconds:g} s; up with {args.workers} worker(s)"
    )
    env = {"DISTILLERY_MAX_ACTIVE_JOBS": str(args.max_active_jobs)} if args.max_active_jobs else {}
    with distillery_up(workers=args.workers, **env) as svc, svc.client() as client:
        dataset = upload_sst2(client, args.rows)
        body = augment_body(dataset["id"], args)
        answers, ids, seconds = asyncio.run(submit_all(svc.base, svc.auth, body, args.submissions, args.clients))
        listed = listed_ids(client)
        polled = run_load(
            svc.base, svc.key, [f"/v1/jobs/{i}" for i in ids] or ["/v1/jobs"], args.pollers, args.poll_seconds
        )
        statuses = Counter(job["status"] for job in client.get("/v1/jobs", params={"limit": 500}).json()["items"])
    accepted = answers.get("202", 0)
    report(f"submissions: {dict(answers)} in {seconds:.1f} s ({args.submissions / seconds:.0f}/s)")
    report(
        f"ids: {len(ids)} accepted, {len(set(ids))} distinct; the job list holds {len(listed)} "
        f"({len(set(listed))} distinct)"
    )
    report(f"polling while workers ran: {polled.summary()}")
    report(f"statuses of the newest 500 jobs at the end: {dict(statuses)}")
    expectations = {
        "every submission answered 202 or 429": sum(answers.values()) == args.submissions
        and set(answers) <= {"202", "429"},
        "accepted ids are distinct": len(set(ids)) == len(ids) == accepted,
        "the job list holds exactly the accepted ids (none lost, none duplicated)": sorted(listed) == sorted(ids),
        "no poll error": polled.errors == 0,
    }
    return report.finish(
        expectations,
        f"burst: {args.submissions} submissions in {seconds:.1f} s, {accepted} x 202, "
        f"{answers.get('429', 0)} x 429, {len(set(ids))} distinct ids, lost {len(set(ids) - set(listed))}; "
        f"polling p50 {polled.percentile(50):.1f} ms, p99 {polled.percentile(99):.1f} ms, {polled.errors} errors",
    )


if __name__ == "__main__":
    raise SystemExit(main())
