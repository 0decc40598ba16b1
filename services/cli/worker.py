"""`distillery worker --queue augment|distill`: one RQ worker against DISTILLERY_REDIS_URL.

Start as many as you like, on as many machines as share the Redis and the data dir. Jobs run inside
the worker process (RQ's SimpleWorker, no fork per job) so the MLM and GloVe index loaded by the first
shard stay in memory for every later shard. ``workers.rq_worker.HeartbeatWorker`` adds a heartbeat while a
job runs, so the job of a worker killed with SIGKILL is retried within seconds, not after its timeout.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys

from shared.job_types import QueueName

#: Queue -> module holding its RQ entry points (imported before work starts, so a broken install fails at
#: start-up, not on the first job).
QUEUE_ENTRY_MODULES: dict[QueueName, str] = {
    QueueName.AUGMENT: "workers.augment.jobs",
    QueueName.DISTILL: "workers.distill.jobs",
}


class QuietMaintenance(logging.Filter):
    """Drops RQ's routine registry clean-up lines: every idle worker logs them every few seconds
    (the short maintenance interval is what makes SIGKILL recovery fast), drowning the job lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and "cleaning" in str(record.msg))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run one queue worker against DISTILLERY_REDIS_URL",
        description="Run one RQ worker. Scale out by starting more, on any machine sharing Redis and the data dir.",
    )
    parser.add_argument(
        "--queue", choices=[str(q) for q in QueueName], default=str(QueueName.AUGMENT), help="queue to serve"
    )
    parser.add_argument("--redis-url", help="default: DISTILLERY_REDIS_URL")
    parser.add_argument("--name", help="worker name (default: host.pid.queue)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument("--device", help="auto, cpu or cuda[:i] for this worker's jobs (default: DISTILLERY_DEVICE)")
    parser.add_argument(
        "--threads", type=int, help="torch/BLAS threads of this worker (default: DISTILLERY_THREADS, else all cores)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rq import Queue

    from shared.redis_conn import connect
    from shared.settings import get_settings
    from workers.device_errors import POISONED_EXIT, poisoned
    from workers.rq_worker import HeartbeatWorker

    try:
        device, threads = place_worker(args.device, args.threads)
    except ValueError as exc:
        print(f"distillery worker: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        conn = connect(args.redis_url, settings)
        conn.ping()
    except Exception as exc:
        print(f"distillery worker: cannot reach Redis: {exc}", file=sys.stderr)
        return 2
    importlib.import_module(QUEUE_ENTRY_MODULES[args.queue])
    name = args.name or f"{socket.gethostname()}.{os.getpid()}.{args.queue}"
    worker = HeartbeatWorker(
        [Queue(args.queue, connection=conn)],
        connection=conn,
        name=name,
        heartbeat_ttl=settings.job_heartbeat_ttl_s,
        maintenance_interval=settings.worker_maintenance_s,
    )
    logging.getLogger("rq.worker").addFilter(QuietMaintenance())
    print(
        f"distillery worker {name}: serving queue {args.queue!r} on {device} with {threads} thread(s)",
        file=sys.stderr,
        flush=True,
    )
    worker.work(burst=args.burst, logging_level="INFO", with_scheduler=False)
    reason = poisoned()
    if reason is not None:
        print(f"distillery worker {name}: exiting after a GPU failure: {reason}", file=sys.stderr, flush=True)
        return POISONED_EXIT
    return 0


def place_worker(device: str | None, threads: int | None) -> tuple[str, int]:
    """Check and apply this worker's device and threads before any job (and before numpy loads): a GPU the
    machine lacks fails here. The device reaches the jobs as the ``device`` setting (DISTILLERY_DEVICE)."""
    from shared.settings import get_settings
    from workers.device_setup import apply_threads, check_device

    if device is not None:
        os.environ["DISTILLERY_DEVICE"] = device
    if threads is not None:
        os.environ["DISTILLERY_THREADS"] = str(threads)
    get_settings.cache_clear()
    settings = get_settings()
    return check_device(settings.device), apply_threads(settings.threads)
