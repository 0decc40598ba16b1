"""`distillery up`'s worker plan: one distillation worker per GPU, augmentation placed, threads budgeted."""

from __future__ import annotations

import pytest

from services.cli.worker_plan import Machine, describe, plan_workers
from shared.job_types import QueueName


def _layout(slots) -> list[tuple[str, str, int]]:
    return [(str(s.queue), s.device, s.threads) for s in slots]


def test_cpu_machine_splits_the_cores_between_the_augmentation_workers() -> None:
    slots = plan_workers(Machine(cores=2, gpus=0))
    assert _layout(slots) == [("augment", "cpu", 1), ("augment", "cpu", 1), ("distill", "cpu", 2)]
    assert [s.name for s in slots] == ["augment-worker-1", "augment-worker-2", "distill-worker"]
    one = plan_workers(Machine(cores=2, gpus=0), augment_workers=1)
    assert _layout(one)[0] == ("augment", "cpu", 2)  # a lone worker keeps every core
    assert plan_workers(Machine(cores=3, gpus=0), augment_workers=4)[0].threads == 1  # never 0


def test_one_distillation_worker_per_gpu_and_augmentation_spread_over_the_gpus() -> None:
    slots = plan_workers(Machine(cores=16, gpus=2), per_gpu=2)
    distill = [s for s in slots if s.queue == QueueName.DISTILL]
    augment = [s for s in slots if s.queue == QueueName.AUGMENT]
    assert [s.device for s in distill] == ["cuda:0", "cuda:1"]
    assert [s.name for s in distill] == ["distill-worker-1", "distill-worker-2"]
    assert [s.device for s in augment] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert {s.threads for s in augment} == {4} and {s.threads for s in distill} == {8}
    assert describe(slots) == "Workers: 4 augment on cuda:0, cuda:1; 2 distill on cuda:0, cuda:1 (4/8 threads each)"


def test_augmentation_can_stay_on_the_cpu_of_a_gpu_machine() -> None:
    slots = plan_workers(Machine(cores=8, gpus=1), augment_device="cpu", augment_workers=4)
    assert _layout(slots) == [("augment", "cpu", 2)] * 4 + [("distill", "cuda:0", 8)]


def test_an_explicit_device_and_thread_count_are_honoured() -> None:
    cpu = plan_workers(Machine(cores=4, gpus=2), device="cpu", augment_workers=2)
    assert {s.device for s in cpu} == {"cpu"}
    gpu1 = plan_workers(Machine(cores=4, gpus=2), device="cuda:1", threads=3)
    assert {s.device for s in gpu1} == {"cuda:1"} and {s.threads for s in gpu1} == {3}
    assert len([s for s in gpu1 if s.queue == QueueName.DISTILL]) == 1


def test_impossible_placements_are_refused() -> None:
    with pytest.raises(ValueError, match="augment_device=gpu, but no GPU"):
        plan_workers(Machine(cores=2, gpus=0), augment_device="gpu")
    with pytest.raises(ValueError, match="augment_device must be"):
        plan_workers(Machine(cores=2, gpus=0), augment_device="tpu")
