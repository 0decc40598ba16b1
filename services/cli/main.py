"""The `distillery` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)`` and imports its heavy dependencies (torch,
transformers, uvicorn) only when it runs, so `distillery --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "augment",
    "finetune",
    "distill",
    "general",
    "evaluate",
    "predict",
    "export",
    "up",
    "worker",
    "client",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distillery",
        description="TinyBERT data augmentation and task-specific distillation.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"services.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
