"""CLI flags -> the resolved parameter models of ``shared.job_params``, as the API resolves requests.

A flag left unset is None and takes the setting's default there; help texts show those defaults.
"""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from shared.job_params import ResolvedParams
from shared.settings import Settings

P = TypeVar("P", bound=ResolvedParams)


def params_from_args(params_type: type[P], args: argparse.Namespace, settings: Settings, **fixed: Any) -> P:
    """``params_type`` from the flags named like its fields (and ``fixed`` values), defaults from settings."""
    given = {name: getattr(args, name, None) for name in params_type.model_fields if name not in fixed}
    return params_type.resolve(settings, **given, **fixed)


def add_precision_argument(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """--precision auto|fp32|bf16 (default: DISTILLERY_PRECISION); see docs/precision.md."""
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help=f"auto = bf16 where the device runs it natively (CUDA with bf16, a CPU with AMX-BF16 or AVX512-BF16), "
        f"else fp32; bf16 on a device without it is an error ({settings.precision})",
    )
