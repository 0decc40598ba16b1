"""The process-group backend follows the run's device; single-process runs make every collective a no-op."""

from __future__ import annotations

import torch

from workers.distill.distributed import Dist, backend_for


def test_backend_follows_the_resolved_device_not_the_machine() -> None:
    assert backend_for(torch.device("cpu")) == "gloo"  # --device cpu on a CUDA machine too
    assert backend_for(torch.device("cuda", 1)) == "nccl"
    assert backend_for(torch.device("cuda")) == "nccl"
    assert backend_for(torch.device("cuda"), ranks_per_node=2, gpus=2) == "nccl"
    assert backend_for(torch.device("cuda"), ranks_per_node=2, gpus=1) == "gloo"  # NCCL: one rank per GPU


def test_without_torchrun_there_is_no_group_and_collectives_are_identities(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = Dist.from_env(torch.device("cpu"))
    assert not dist.enabled and not dist.owns_group
    assert dist.agree(True) is True and dist.agree(False) is False
    assert dist.gather({"a": 1}) == [{"a": 1}]
    dist.close()  # nothing joined, nothing left


def test_a_gloo_group_of_one_agrees_gathers_and_is_left(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        dist = Dist(rank=0, world=2, local_rank=0, owns_group=True)  # as if a second rank existed
        assert dist._comm_device() == torch.device("cpu")
        assert dist.agree(True) is True
    finally:
        dist.close()
    assert not torch.distributed.is_initialized()
