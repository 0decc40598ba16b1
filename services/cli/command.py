"""How a sub-command module adds itself to `distillery` (see ``register`` in each module of this package)."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable

from shared.settings import Settings


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help: str,
    settings: Settings | None = None,
) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``: ``help`` in the command list, ``run``'s docstring atop its own --help
    (with ``settings``, its ``{s.field}``s show their values), and ``run(args)`` what ``main`` calls."""
    text = inspect.getdoc(run) or ""
    description = text.format(s=settings) if settings is not None else text
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run)
    return parser
