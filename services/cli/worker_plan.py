"""Which workers `distillery up` starts, on which device, with how many threads (pure: no torch here).

- Distillation: one worker per GPU, on ``cuda:i`` (a job runs on one GPU; torchrun spreads one job over
  several); one worker on the CPU when there is no GPU.
- Augmentation: on a GPU machine, ``augment_workers_per_gpu`` workers per GPU (the MLM forward passes are
  most of an augmentation's time, and one worker leaves the GPU idle while it draws samples and searches
  GloVe on the CPU); ``augment_device=cpu`` keeps them on the CPU, one per core by default.
- ``device`` other than 'auto' puts the workers there ('cpu'; 'cuda:1': that GPU for all).
- Threads (unless ``threads`` says otherwise): each augmentation worker gets ``cores // augmentation
  workers`` and each distillation worker ``cores // distillation workers`` (at least 1), so W augmentation
  workers together use the cores once instead of W times each. The distillation worker is idle while only
  augmentation runs; during a pipeline both pools share the cores (on a GPU machine the distillation
  worker needs few of its threads).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.job_types import QueueName


@dataclass(frozen=True)
class WorkerSlot:
    """One worker process to start: its name, queue, DISTILLERY_DEVICE and DISTILLERY_THREADS."""

    name: str
    queue: QueueName
    device: str
    threads: int


@dataclass(frozen=True)
class Machine:
    """What `up` found: CPU cores and visible GPUs."""

    cores: int
    gpus: int


def plan_workers(
    machine: Machine,
    *,
    device: str = "auto",
    augment_workers: int | None = None,
    augment_device: str = "auto",
    per_gpu: int = 2,
    threads: int | None = None,
) -> list[WorkerSlot]:
    """The augmentation workers, then the distillation workers, each with its device and thread budget."""
    if augment_device not in ("auto", "gpu", "cpu"):
        raise ValueError(f"augment_device must be auto, gpu or cpu, got {augment_device!r}")
    if device in ("auto", "cuda"):
        targets = [f"cuda:{i}" for i in range(machine.gpus)]
    else:  # 'cpu' or one explicit GPU for every worker
        targets = [] if device == "cpu" else [device]
    if augment_device == "gpu" and not targets:
        raise ValueError("augment_device=gpu, but no GPU is visible here (or device=cpu)")
    distill_devices = targets or ["cpu"]
    on_gpu = bool(targets) and augment_device != "cpu"
    count = augment_workers or (len(targets) * per_gpu if on_gpu else machine.cores)
    augment_devices = [targets[i % len(targets)] for i in range(count)] if on_gpu else ["cpu"] * count
    augment_threads = threads or max(1, machine.cores // max(1, len(augment_devices)))
    distill_threads = threads or max(1, machine.cores // len(distill_devices))
    slots = [
        WorkerSlot(f"augment-worker-{i + 1}", QueueName.AUGMENT, dev, augment_threads)
        for i, dev in enumerate(augment_devices)
    ]
    for i, dev in enumerate(distill_devices):
        name = "distill-worker" if len(distill_devices) == 1 else f"distill-worker-{i + 1}"
        slots.append(WorkerSlot(name, QueueName.DISTILL, dev, distill_threads))
    return slots


def describe(slots: list[WorkerSlot]) -> str:
    """One line for `up`'s banner: how many workers of each queue, where, with how many threads."""
    parts = []
    for queue in (QueueName.AUGMENT, QueueName.DISTILL):
        mine = [s for s in slots if s.queue == queue]
        if mine:
            devices = sorted({s.device for s in mine})
            parts.append(f"{len(mine)} {queue} on {', '.join(devices)}")
    threads = sorted({s.threads for s in slots})
    return f"Workers: {'; '.join(parts)} ({'/'.join(map(str, threads))} threads each)"
