"""Ragged rows padded in one tensor operation, to the longest row or a multiple of it."""

from __future__ import annotations

import torch

from workers.padding import length_multiple, pad_rows


def test_rows_are_left_aligned_with_a_mask() -> None:
    values, mask = pad_rows([[5, 6, 7], [8], [9, 10]], fill=0)
    assert values.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert values.dtype == mask.dtype == torch.long


def test_width_and_multiple_round_the_length_up() -> None:
    values, mask = pad_rows([[1] * 9, [2]], fill=-1, multiple_of=8)
    assert values.shape == mask.shape == (2, 16) and values[1].tolist() == [2] + [-1] * 15
    assert pad_rows([[1, 2]], fill=0, width=5)[0].tolist() == [[1, 2, 0, 0, 0]]
    assert pad_rows([[1] * 8], fill=0, multiple_of=8)[0].shape == (1, 8)  # already a multiple


def test_only_cuda_pads_to_multiples_of_8() -> None:
    assert length_multiple(torch.device("cuda", 0)) == 8
    assert length_multiple(torch.device("cpu")) == 1
