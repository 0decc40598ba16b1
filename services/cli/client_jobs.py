"""The actions of `distillery client`, each ``(client, args) -> exit code``, and the progress display
that the job stream feeds."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from services.client import Client
from shared.schemas import Job

#: Job outcome -> exit code (see services/cli/client.py).
OUTCOME_CODES = {"succeeded": 0, "failed": 1, "cancelled": 3}


def outcome(job: Job) -> int:
    """The exit code of a finished job, with its error on stderr when it did not succeed."""
    if job.error is not None:
        print(f"distillery client: job {job.id} {job.status}: {job.error.code}: {job.error.message}", file=sys.stderr)
    elif job.status != "succeeded":
        print(f"distillery client: job {job.id} {job.status}", file=sys.stderr)
    return OUTCOME_CODES.get(job.status, 1)


class StreamProgress:
    """Job updates as a tqdm bar on a terminal (one per stage), else a plain line every ``log_every_s``."""

    def __init__(self, log_every_s: float = 10.0) -> None:
        self.tty = sys.stderr.isatty()
        self.log_every_s = log_every_s
        self.last_log = 0.0
        self.bar: Any = None
        self.label: str | None = None

    def __call__(self, job: Job) -> None:
        p = job.progress
        stage = getattr(p, "stage", None)
        label = f"{job.type} {stage}" if stage else job.type
        if not self.tty:
            now = time.monotonic()
            if now - self.last_log >= self.log_every_s or job.status != "running":
                self.last_log = now
                eta = f", ETA {p.eta_s:.0f} s" if p.eta_s else ""
                print(f"{job.id} {job.status}: {label} {p.done}/{p.total} {p.unit}{eta}", file=sys.stderr, flush=True)
            return
        from tqdm import tqdm

        if label != self.label:
            self.close()
            self.label = label
            self.bar = tqdm(total=p.total or None, desc=label, unit=p.unit, file=sys.stderr)
        self.bar.total = p.total or None
        self.bar.n = p.done
        self.bar.set_postfix_str(job.status, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _reconnecting(why: str) -> None:
    print(f"distillery client: {why}", file=sys.stderr, flush=True)


def prepare_output(path: Path, *, folder: bool = False) -> None:
    """Create the output's folder (or ``path`` itself for a folder) before any upload, and check it is
    writable: a job must not run only for its result to have nowhere to go. Raises OSError naming the path."""
    where = path if folder else path.parent
    where.mkdir(parents=True, exist_ok=True)
    if (not folder and path.is_dir()) or not os.access(where, os.W_OK):
        raise OSError(errno.EACCES, "cannot write there", str(path))


def follow(api: Client, job_id: str) -> Job:
    progress = StreamProgress()
    try:
        return api.wait(job_id, progress, on_reconnect=_reconnecting)
    finally:
        progress.close()


def run_to_end(api: Client, job: Job, args: argparse.Namespace, what: str) -> tuple[Job, int | None]:
    """With --no-wait print the id (exit 0); else follow the job: a code to exit with unless it succeeded."""
    if args.no_wait:
        print(job.id)
        return job, 0
    print(f"job {job.id}: {what}", file=sys.stderr)
    job = follow(api, job.id)
    return job, None if job.status == "succeeded" else outcome(job)


def upload(api: Client, args: argparse.Namespace) -> int:
    dataset = api.upload(
        args.file, task=args.task, text_columns=args.text_columns, label_column=args.label_column, name=args.name
    )
    print(dataset.model_dump_json(indent=2))
    return 0


def augment(api: Client, args: argparse.Namespace) -> int:
    """Upload, submit, follow, download: the result is what `distillery augment` writes for the same input."""
    if not args.no_wait:
        prepare_output(Path(args.output))
    dataset = api.upload(args.input, task=args.task, text_columns=args.text_columns, label_column=args.label_column)
    params = {k: getattr(args, k) for k in ("n", "k", "p", "seed", "mlm_model", "glove", "shard_rows", "precision")}
    job, code = run_to_end(
        api, api.augment(dataset.id, **params), args, f"augmenting {dataset.rows} rows of {args.input}"
    )
    if code is not None:
        return code
    path = api.download(job.id, args.output)
    rows_out = (job.result or {}).get("rows_out")
    precision = (job.result or {}).get("precision") or {}
    print(
        f"augmented {args.input} -> {path}: rows in {dataset.rows}, rows out {rows_out}, job {job.id}; "
        f"precision {precision.get('precision')} ({precision.get('reason')})"
    )
    return 0


def pipeline(api: Client, args: argparse.Namespace) -> int:
    """Upload train (and dev), submit one pipeline, follow it, download and (for a folder) unpack the student."""
    out = Path(args.output)
    archive_out = out.name.endswith((".tar.gz", ".tgz"))
    if not args.no_wait:
        prepare_output(out, folder=not archive_out)
    columns = {"task": args.task, "text_columns": args.text_columns, "label_column": args.label_column}
    train = api.upload(args.train, **columns)
    dev = api.upload(args.dev, **columns) if args.dev else None
    body: dict[str, Any] = {
        "dataset_id": train.id,
        "dev_dataset_id": dev.id if dev else None,
        "augment": args.augment,
        "finetune": args.finetune,
        "distill": args.distill,
    }
    body["teacher" if args.teacher else "base_model"] = args.teacher or args.base_model
    job, code = run_to_end(api, api.pipeline(body), args, f"pipeline on {train.rows} rows of {args.train}")
    if code is not None:
        return code
    if archive_out:
        api.download(job.id, out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            archive = api.download(job.id, Path(tmp) / "student.tar.gz")
            out.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(out, filter="data")
    student = (job.result or {}).get("student") or {}
    print(f"student -> {out} (dev {json.dumps(student.get('dev'))}), job {job.id}")
    return 0


def list_jobs(api: Client, args: argparse.Namespace) -> int:
    page = api.jobs(type=args.type, status=args.status, limit=args.limit)
    if args.json:
        print(page.model_dump_json(indent=2))
        return 0
    print(f"{'ID':<26} {'TYPE':<13} {'STATUS':<10} {'PROGRESS':<22} CREATED")
    for job in page.items:
        p = job.progress
        print(f"{job.id:<26} {job.type:<13} {job.status:<10} {f'{p.done}/{p.total} {p.unit}':<22} {job.created_at}")
    print(f"{len(page.items)} of {page.total} jobs", file=sys.stderr)
    return 0


def status(api: Client, args: argparse.Namespace) -> int:
    print(api.job(args.job_id).model_dump_json(indent=2))
    return 0


def wait(api: Client, args: argparse.Namespace) -> int:
    job = follow(api, args.job_id)
    print(f"{job.id} {job.status}")
    return outcome(job)


def cancel(api: Client, args: argparse.Namespace) -> int:
    job = api.cancel(args.job_id)
    print(f"{job.id} {job.status}")
    return 0


def download(api: Client, args: argparse.Namespace) -> int:
    print(api.download(args.job_id, args.output))
    return 0
