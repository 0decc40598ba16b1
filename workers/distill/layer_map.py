"""Which teacher layer each student layer learns from: g(m) in the TinyBERT paper.

Layers are numbered from 1 (0 is the embedding output, which always maps to the teacher's embedding output).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from shared.schemas import LAYER_MAP_STRATEGIES as STRATEGIES
from shared.schemas import layer_map_layers
from workers.distill.errors import DistillError


def build_layer_map(spec: str | Sequence[int], student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layer (1-based) for each student layer 1..M, validated.

    ``spec`` is 'uniform' (g(m) = round(m*N/M): 12->4 gives 3,6,9,12), 'top' (the last M layers),
    'bottom' (the first M layers), or an explicit strictly increasing list such as '2,4,6' / [2, 4, 6].
    """
    if student_layers < 1:
        raise DistillError(f"the student needs at least one layer, got {student_layers}")
    if teacher_layers < 1:
        raise DistillError(f"the teacher has no layers ({teacher_layers})")
    try:
        layers = layer_map_layers(spec)
    except ValueError:
        raise DistillError(
            f"layer map {spec!r} is neither one of {', '.join(STRATEGIES)} nor a comma-separated list of "
            "teacher layer numbers such as '2,4,6'"
        ) from None
    if layers is None:  # a strategy's name
        name = str(spec).strip().lower()
        if student_layers > teacher_layers:
            raise DistillError(
                f"layer map {name!r}: the student has {student_layers} layers but the teacher only "
                f"{teacher_layers}; give an explicit list instead"
            )
        if name == "uniform":
            return [int(m * teacher_layers / student_layers + 0.5) for m in range(1, student_layers + 1)]
        if name == "top":
            return list(range(teacher_layers - student_layers + 1, teacher_layers + 1))
        return list(range(1, student_layers + 1))
    if len(layers) != student_layers:
        raise DistillError(
            f"layer map {list(layers)} has {len(layers)} entries but the student has {student_layers} layers"
        )
    for layer in layers:
        if not 1 <= layer <= teacher_layers:
            raise DistillError(
                f"layer map {list(layers)}: teacher layer {layer} does not exist (the teacher has layers "
                f"1..{teacher_layers})"
            )
    if any(b <= a for a, b in itertools.pairwise(layers)):
        raise DistillError(f"layer map {list(layers)} must be strictly increasing")
    return layers
