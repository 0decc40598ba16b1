"""`distillery client`: the service from another team's machine: upload, augment, pipeline, jobs, status,
wait, cancel, download. Reads DISTILLERY_URL and DISTILLERY_API_KEY (or --url/--key).

Exit codes: 0 the job succeeded (or the call worked), 1 the job failed, the service could not be
reached or answered oddly, or a local file could not be read or written, 2 the server refused the request (its 4xx detail is printed as it came), 3 the job was cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from services.cli import client_jobs


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None, help="service URL (default: $DISTILLERY_URL)")
    common.add_argument("--key", default=None, help="team API key (default: $DISTILLERY_API_KEY)")
    return common


def _columns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", help="GLUE task preset naming the text and label columns (e.g. sst-2)")
    parser.add_argument("--text-column", action="append", dest="text_columns", metavar="C", help="text column")
    parser.add_argument("--label-column", help="label column")


def _augment_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, help="samples per text column (server default: 20)")
    parser.add_argument("--k", type=int, help="candidates per word (server default: 15)")
    parser.add_argument("--p", type=float, help="replacement probability (server default: 0.4)")
    parser.add_argument("--seed", type=int, help="random seed (server default: 42)")
    parser.add_argument("--mlm-model", help="masked LM on the server: folder or hub id")
    parser.add_argument("--glove", help="GloVe source on the server")
    parser.add_argument("--shard-rows", type=int, help="input rows per shard")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="auto, fp32 or bf16 (server default: DISTILLERY_PRECISION)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "client",
        help="use a running Distillery service (upload, augment, pipeline, jobs, ...)",
        description="Talk to a Distillery service over HTTP. Exit codes: 0 succeeded, 1 failed or "
        "unreachable, 2 refused by the server (4xx), 3 cancelled.",
    )
    sub = parser.add_subparsers(dest="client_command", required=True, metavar="ACTION")
    common = _common()

    def add(name: str, func: Callable[..., int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=_runner(func))
        return p

    p = add("upload", client_jobs.upload, "upload a dataset; prints it as JSON")
    p.add_argument("file")
    p.add_argument("--name", help="display name (default: the file name)")
    _columns(p)

    p = add("augment", client_jobs.augment, "upload a file, augment it on the service, download the result")
    p.add_argument("--input", required=True, help="dataset file (.tsv, .csv or .jsonl)")
    p.add_argument("--output", required=True, help="where to write the augmented dataset")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    _columns(p)
    _augment_options(p)

    p = add("pipeline", client_jobs.pipeline, "fine-tune/augment/distil in one job; downloads the student")
    p.add_argument("--train", required=True, help="training set file")
    p.add_argument("--dev", help="dev set file (dev metrics, teacher and student)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--teacher", help="a fine-tuned teacher on the server (folder or hub id)")
    who.add_argument("--base-model", help="an encoder on the server to fine-tune into the teacher first")
    p.add_argument("--output", required=True, help="student.tar.gz, or a folder to unpack it into")
    p.add_argument("--augment", type=json.loads, default={}, metavar="JSON", help="augmentation fields")
    p.add_argument("--finetune", type=json.loads, default={}, metavar="JSON", help="fine-tune options")
    p.add_argument("--distill", type=json.loads, default={}, metavar="JSON", help="distillation options")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    _columns(p)

    p = add("jobs", client_jobs.list_jobs, "list this team's jobs, newest first")
    p.add_argument("--type", choices=["augmentation", "finetune", "distillation", "pipeline", "general-distillation"])
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled", "expired"])
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print the page as JSON")
    for name, func, text in (
        ("status", client_jobs.status, "print a job as JSON"),
        ("wait", client_jobs.wait, "follow a job with a progress bar until it is over"),
        ("cancel", client_jobs.cancel, "cancel a job (idempotent)"),
    ):
        add(name, func, text).add_argument("job_id", metavar="ID")
    p = add("download", client_jobs.download, "download a succeeded job's result")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--output", help="file to write (default: the server's file name)")


def _runner(func: Callable[..., int]) -> Callable[[argparse.Namespace], int]:
    """Open the client from --url/--key or the environment, run, and turn ApiError into one line + code."""

    def run(args: argparse.Namespace) -> int:
        from services.client import ApiError, Client

        url = args.url or os.environ.get("DISTILLERY_URL")
        key = args.key or os.environ.get("DISTILLERY_API_KEY")
        if not url or not key:
            return fail("set DISTILLERY_URL and DISTILLERY_API_KEY, or pass --url and --key", 2)
        try:
            with Client(url, key) as api:
                return func(api, args)
        except ApiError as exc:
            return fail(exc.message, 2 if 400 <= exc.status < 500 else 1)
        except OSError as exc:  # a local file (input or output): not the server's refusal
            where = f"{exc.filename}: " if exc.filename else ""
            return fail(f"{where}{exc.strerror or exc}", 1)

    return run


def fail(message: str, code: int) -> int:
    print(f"distillery client: error: {message}", file=sys.stderr)
    return code
