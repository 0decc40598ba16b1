"""Checks the CLI makes before any model loads: flags within the API's bounds, output paths that can be
written and do not overwrite an input. Each raises ``UsageError``; ``deploy_args.fail`` prints it as one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError


class UsageError(ValueError):
    """Bad command-line input: one line on stderr and exit status 2."""


def check_bounds(options: type[BaseModel], args: argparse.Namespace, *names: str, prefix: str = "") -> None:
    """Each given flag in ``names`` within the bounds of the API's field of that name in ``options`` (the flag
    is ``--<prefix><name>``: ``prefix="student_"`` checks ``--student-layers`` against ``layers``)."""
    for name in names:
        value = getattr(args, prefix + name, None)
        if value is None:
            continue
        info = options.model_fields[name]
        kind: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(kind)
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            flag = (prefix + name).replace("_", "-")
            raise UsageError(f"--{flag} {value}: {msg[0].lower()}{msg[1:]}") from None


def _local(path: str | None) -> Path | None:
    """``path`` resolved when it names something on disk (not a hub id), else None."""
    return Path(path).resolve() if path and Path(path).exists() else None


def check_not_input(output: str, *inputs: tuple[str, str | None], folder: bool = True) -> None:
    """Refuse an --output that is an input (``(flag, path)``), or lies inside an input folder (a file output only
    when it would replace a file there): a model saved there would mix with, or replace, that folder's files."""
    out = Path(output).resolve()
    for name, path in inputs:
        source = _local(path)
        if source is None:
            continue
        if out == source:
            raise UsageError(f"--output is the same as {name} ({path}); it would be overwritten")
        if source.is_dir() and source in out.parents and (folder or out.exists()):
            raise UsageError(f"--output {output} is inside the {name} folder {path}; choose another folder")


def check_output_folder(output: str) -> None:
    """Refuse an --output folder that cannot be created: a file at it or at one of its parents."""
    for path in (Path(output), *Path(output).parents):
        if path.exists():
            if not path.is_dir():
                raise UsageError(f"--output {output}: {path} is a file, not a folder")
            return


def check_output_file(output: str) -> None:
    """Refuse an --output file that is a folder."""
    if Path(output).is_dir():
        raise UsageError(f"--output {output} is a folder; give a file name")


def check_no_stale_checkpoint(output: str, resume: bool, name: str = "checkpoint.pt") -> None:
    """Refuse a fresh run (no --resume) into a folder whose checkpoint it would discard."""
    checkpoint = Path(output) / name
    if not resume and checkpoint.is_file():
        raise UsageError(
            f"--output {output} holds a checkpoint ({checkpoint}); pass --resume to continue it, or remove it"
        )
