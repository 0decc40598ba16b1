"""The data directory fills up under a running `distillery up`: what do uploads and jobs answer, and is
anything already stored damaged?

The data directory (datasets, results and the embedded Redis's append-only file) is a small tmpfs this script
mounts (root only; or pass --data-dir on a small file system you mounted). A first job runs to the end; then
a filler file takes every free byte, and the script uploads, submits a job and polls the finished one. It
frees the space and checks that the service works again and that every file stored before is unchanged.
Wanted: uploads 507, a job 507 at submission or failed with error code disk_full, no 500, nothing changed.

Usage (repository root, as root): .venv/bin/python -m bench.reliability.disk_full [--size-mb 64]
Output tees to bench/results/reliability/disk_full.txt. Exit 0 when every expectation held, 2 when no small
file system could be had.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.reliability.harness import (
    MLM_DIR,
    Report,
    distillery_up,
    fill,
    result_bytes,
    sst2_rows,
    submit_augmentation,
    upload_sst2,
    wait_job,
)


@contextmanager
def small_fs(size_mb: int, given: str | None) -> Iterator[Path]:
    if given:
        yield Path(given)
        return
    mount = Path(tempfile.mkdtemp(prefix="distillery-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot mount a tmpfs ({done.stderr.decode().strip()}); run as root or pass --data-dir")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def digests(root: Path) -> dict[str, str]:
    """SHA-256 of every stored file (datasets, results), not Redis's own files."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and "redis" not in p.parts and p.name != "filler"
    }


def while_full(client: httpx.Client, dataset_id: str, body: dict[str, Any], done_id: str, seen: Counter[str]) -> dict:
    """Upload, submit and poll on the full disk; returns what each answered."""
    up = client.post("/v1/datasets", files={"file": ("b.tsv", sst2_rows(50))}, data={"task": "sst-2"})
    sub = client.post("/v1/augmentations", json=body)
    job: dict[str, Any] | None = None
    if sub.status_code == 202:
        job = wait_job(client, sub.json()["id"], 300, tolerate=(503, 507))
    for _ in range(30):
        seen[str(client.get(f"/v1/jobs/{done_id}").status_code)] += 1
        time.sleep(0.1)
    return {"upload": up, "submit": sub, "job": job}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64, help="size of the tmpfs this script mounts")
    parser.add_argument("--data-dir", help="a folder on a small file system you mounted (instead of the tmpfs)")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--mlm", default=str(MLM_DIR))
    args = parser.parse_args()
    report = Report("disk_full")
    with small_fs(args.size_mb, args.data_dir) as fs, distillery_up(workers=1, data_dir=fs / "data") as svc:
        report(f"disk_full: data dir on {fs} ({args.size_mb} MiB tmpfs unless --data-dir), {args.rows} rows")
        with svc.client() as client:
            ds = upload_sst2(client, args.rows)
            body = {"dataset_id": ds["id"], "n": 2, "shard_rows": 25, "mlm_model": args.mlm}
            first = submit_augmentation(client, body)
            report(f"first job: {wait_job(client, first, 900)['status']}")
            first_bytes = result_bytes(client, first)
            before = digests(svc.data_dir)
            filler = fill(fs)
            report(f"filled the disk with {filler.stat().st_size / 2**20:.1f} MiB")
            seen: Counter[str] = Counter()
            full = while_full(client, ds["id"], body, first, seen)
            job = full["job"]
            report(f"  upload: {full['upload'].status_code} {full['upload'].text[:160]}")
            report(f"  submit: {full['submit'].status_code} {full['submit'].text[:160]}")
            if job:
                report(f"  that job: {job['status']} {job['error']}")
            report(f"  polls of the finished job: {dict(seen)}")
            filler.unlink()
            time.sleep(2)  # Redis retries its append-only file every second
            again = client.post("/v1/datasets", files={"file": ("b.tsv", sst2_rows(50))}, data={"task": "sst-2"})
            after_job = wait_job(client, submit_augmentation(client, body), 900, tolerate=(503, 507))
            report(f"after freeing: upload {again.status_code}, new job {after_job['status']}")
            time.sleep(5)
            stuck = [j["id"] for j in client.get("/v1/jobs", params={"status": "queued"}).json()["items"]]
            # known gap (docs/reliability.md): a submission cut in the middle by Redis refusing writes can
            # leave its record "queued" with nothing queued
            report(f"jobs still queued 5 s after recovery (nothing queued for them): {len(stuck)} {stuck}")
            same_files = {k: v for k, v in digests(svc.data_dir).items() if k in before} == before
            same_result = result_bytes(client, first) == first_bytes
    job_ok = full["submit"].status_code == 507 or (job is not None and (job["error"] or {}).get("code") == "disk_full")
    expectations = {
        "upload answered 507": full["upload"].status_code == 507,
        "job: 507 at submission, or failed with code disk_full": job_ok,
        "no 500 from any poll": not any(s.startswith("50") and s not in ("503", "507") for s in seen),
        "every file stored before is unchanged": same_files,
        "the first job's result downloads unchanged": same_result,
        "after freeing space: upload 201 and a job succeeds": again.status_code == 201
        and after_job["status"] == "succeeded",
    }
    return report.finish(
        expectations,
        f"disk_full: upload {full['upload'].status_code}, job "
        f"{full['submit'].status_code if not job else job['status'] + '/' + str((job['error'] or {}).get('code'))}, "
        f"stored files unchanged: {same_files and same_result}, recovered: {expectations[list(expectations)[-1]]}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
