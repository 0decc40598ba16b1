"""Layer mapping g(m): strategies and validation."""

from __future__ import annotations

import pytest

from workers.distill.errors import DistillError
from workers.distill.layer_map import build_layer_map


def test_uniform_matches_tinybert_12_to_4() -> None:
    assert build_layer_map("uniform", 4, 12) == [3, 6, 9, 12]


def test_uniform_non_divisible_ends_on_the_last_teacher_layer() -> None:
    assert build_layer_map("uniform", 4, 6) == [2, 3, 5, 6]
    assert build_layer_map("uniform", 3, 6) == [2, 4, 6]


def test_top_bottom_and_explicit() -> None:
    assert build_layer_map("top", 3, 6) == [4, 5, 6]
    assert build_layer_map("bottom", 3, 6) == [1, 2, 3]
    assert build_layer_map("2,4, 6", 3, 6) == [2, 4, 6]
    assert build_layer_map([1, 3, 5], 3, 6) == [1, 3, 5]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("1,2", "has 2 entries"),
        ("1,2,7", "does not exist"),
        ("0,2,4", "does not exist"),
        ("3,2,4", "strictly increasing"),
        ("2,2,4", "strictly increasing"),
        ("sideways", "neither one of"),
    ],
)
def test_invalid_maps_are_refused(spec: str, message: str) -> None:
    with pytest.raises(DistillError, match=message):
        build_layer_map(spec, 3, 6)


def test_student_deeper_than_teacher_needs_an_explicit_map() -> None:
    with pytest.raises(DistillError, match="only 2"):
        build_layer_map("uniform", 4, 2)
