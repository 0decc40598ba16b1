"""What a status poll costs: N sequential GET /v1/jobs/{id} on one keep-alive connection, and N fresh
`curl` processes for comparison (what a shell loop pays). Usage: service_poll_latency.py BASE KEY JOB [N]."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import httpx


def main() -> None:
    base, key, job = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    headers = {"Authorization": f"Bearer {key}"}
    timings = []
    with httpx.Client(base_url=base, headers=headers) as client:
        client.get(f"/v1/jobs/{job}").raise_for_status()  # warm the connection
        for _ in range(n):
            t0 = time.perf_counter()
            client.get(f"/v1/jobs/{job}").raise_for_status()
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    print(
        f"{n} polls (httpx, keep-alive): median {statistics.median(timings):.2f} ms, "
        f"p95 {timings[int(0.95 * n) - 1]:.2f} ms, max {timings[-1]:.2f} ms"
    )
    curl = []
    for _ in range(n):
        out = subprocess.run(
            [
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                "-w",
                "%{time_total}",
                "-H",
                f"Authorization: Bearer {key}",
                f"{base}/v1/jobs/{job}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        curl.append(float(out.stdout) * 1000)
    print(
        f"{n} polls (curl, new connection each): median {statistics.median(curl):.2f} ms "
        f"(server + connect, as curl reports time_total)"
    )


if __name__ == "__main__":
    main()
