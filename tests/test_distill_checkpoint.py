"""Checkpoint RNG states: kept per CUDA device and per rank, restored for the devices that exist now."""

from __future__ import annotations

import random

import torch

from workers.distill.checkpoint import rank_rng_state, restorable_cuda_states, rng_state, set_rng_state


def test_states_of_more_gpus_than_visible_restore_only_the_existing_ones() -> None:
    saved = {0: torch.tensor([0]), 1: torch.tensor([1]), 2: torch.tensor([2])}
    assert list(restorable_cuda_states(saved, 1)) == [0]
    assert list(restorable_cuda_states(saved, 0)) == []
    assert list(restorable_cuda_states(saved, 4)) == [0, 1, 2]


def test_an_old_list_of_states_is_read_by_position() -> None:
    old = [torch.tensor([0]), torch.tensor([1])]
    restored = restorable_cuda_states(old, 1)
    assert list(restored) == [0] and torch.equal(restored[0], old[0])
    assert restorable_cuda_states(None, 2) == {}


def test_a_checkpoint_with_gpu_states_resumes_on_a_machine_without_gpus() -> None:
    state = rng_state()
    state["cuda"] = {0: torch.zeros(16, dtype=torch.uint8), 1: torch.zeros(16, dtype=torch.uint8)}
    first = (random.random(), torch.rand(1).item())
    set_rng_state(state)  # no CUDA here: the GPU states are skipped, the CPU ones restored
    assert (random.random(), torch.rand(1).item()) == first


def test_each_rank_restores_its_own_state_and_falls_back_to_rank_0s() -> None:
    ranks = [{"who": 0}, {"who": 1}]
    checkpoint = {"rng": {"who": "main"}, "rng_ranks": ranks}
    assert rank_rng_state(checkpoint, 1) == {"who": 1}
    assert rank_rng_state(checkpoint, 2) == {"who": "main"}  # resumed with more processes than saved
    assert rank_rng_state({"rng": {"who": "main"}}, 1) == {"who": "main"}  # written before rng_ranks
