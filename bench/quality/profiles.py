"""Experiment scales. ``cpu`` is sized for a developer's session on 2 idle CPU cores, the slowest we get (an
AVX2-only EPYC in fp32: 96.5 min from a clean clone, general distillation 11.1 of them, results/cpu-3ed444e):
SST-2 with the students issue 12 is judged on (three from general distillation, and the TinyBERT4 shape from
random init as their control). Both tasks with all six students would take about 2.5 hours there; MRPC runs
with ``--tasks sst-2,mrpc``, the teacher-initialised 3- and 2-layer students with ``--students``;
``cpu-base`` is the same proof against a BERT-base-sized teacher (MPNet-base, 12x768) on SST-2, sized for a
developer's session on 2 idle cores; ``gpu`` is the paper's recipe; ``smoke`` is the few-row run of the tests. These are benchmark designs, not
service defaults, so they live here rather than in shared/settings.py (the engines' own defaults still come
from there)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TaskScale:
    """How much of one task an experiment uses."""

    teacher_rows: int | None  # None: the full training set
    teacher_epochs: int
    student_rows: int | None  # subset the students (and augmentation) see; None: full training set
    dev_rows: int | None  # None: the full dev set
    max_seq_len: int
    aug_n: int  # augmented samples per text (N); rows grow to at most 1 + N x text columns
    teacher_lr: float | None = None  # None: the profile's teacher_lr


@dataclass(frozen=True)
class Profile:
    """One benchmark scale: data sizes, epochs, augmentation N and the latency protocol."""

    name: str
    sst2: TaskScale
    mrpc: TaskScale
    stage1_epochs: int
    stage2_epochs: int
    baseline_epochs: int  # label-only fine-tuning of a student (same data as its distillation)
    aug_stage1_epochs: int  # stage-1 epochs on the augmented set (larger, so fewer may be used)
    aug_stage2_epochs: int
    teacher_lr: float = 5e-5
    baseline_lr: float = 1e-4
    lr1: float = 5e-5
    lr2: float = 3e-5
    batch_size: int = 32
    seed: int = 42
    threads: int = 2  # torch threads for training (2 = both cores of the CPU machine)
    latency_threads: int = 1  # torch threads while timing: one core, the steadiest figure on a shared machine
    latency_repeats_b1: int = 30
    latency_repeats_b32: int = 15
    latency_warmup: int = 3
    device: str = "cpu"
    # The augmentation's precision (auto / fp32 / bf16); None: the precision setting. A GPU run whose augmented
    # rows were made beforehand on a CPU names that CPU run's precision here, so it finds them in its cache.
    augment_precision: str | None = None
    # General distillation (bench/quality/general.py): corpus lines (None: all 91,161), epochs, max length.
    general_corpus_rows: int | None = 20000
    general_epochs: int = 1
    general_max_seq_len: int = 64
    general_init: str = "auto"  # the student's start: auto / pruned (the teacher cut to its widths) / random
    # What the profile trains. teacher_model None: the MiniLM-L6 package; otherwise a name bench/base_teacher.py
    # fetches (a --base-model on the command line wins over both).
    teacher_model: str | None = None
    tasks: tuple[str, ...] = ("sst-2", "mrpc")
    students: tuple[str, ...] | None = None  # None: every student of bench/quality/students.py
    deploy_student: str = "minilm3-tinit"  # the student of the deployed-forms table
    speed_target: float = 3.0  # the "keeps >= 97% while N x faster at batch 32" target's N
    # (hidden, heads, FFN) for every fresh student (random init and general distillation) instead of its own
    # shape's; None: the real shapes. The smoke profile's tiny teachers make real shapes the costliest part.
    fresh_width: tuple[int, int, int] | None = None
    # Weights of the distillation losses (embedding, attention, hidden, prediction): the paper's 1 each.
    loss_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)

    def fresh_shape(self, layers: int, hidden: int, heads: int, intermediate: int) -> tuple[int, int, int, int]:
        """A fresh student's (layers, hidden, heads, FFN) under this profile."""
        return (layers, *self.fresh_width) if self.fresh_width else (layers, hidden, heads, intermediate)

    def shape_note(self) -> str:
        """Said beside every fresh student's label when the profile changes its widths."""
        if not self.fresh_width:
            return ""
        hidden, heads, ffn = self.fresh_width
        return f" [profile {self.name}: {hidden}H, {heads} heads, FFN {ffn}]"

    def scale(self, task: str) -> TaskScale:
        return self.sst2 if task == "sst-2" else self.mrpc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def training(self, task: str, train: Path, dev: Path, output_dir: Path) -> dict[str, Any]:
        """The settings every training run of an experiment shares (fine-tunes and distillations alike): its
        data, the profile's batch size, sequence length, seed and device."""
        return {
            "train": str(train),
            "task": task,
            "output_dir": output_dir,
            "dev": str(dev),
            "batch_size": self.batch_size,
            "max_seq_len": self.scale(task).max_seq_len,
            "seed": self.seed,
            "device": self.device,
        }


CPU = Profile(
    name="cpu",
    # SST-2: a teacher on 20k rows (86% dev; 3k rows gave only 80%), students on a 4k-row subset that the
    # augmentation grows about 4x.
    sst2=TaskScale(teacher_rows=20000, teacher_epochs=1, student_rows=4000, dev_rows=None, max_seq_len=64, aug_n=4),
    # MRPC: the teacher needs the full 3,667 rows and 3 epochs at 1e-4 to leave the majority class (1 epoch on
    # 2,000 rows at 5e-5 answered "paraphrase" for everything); the students get 1,000 rows (small data), which
    # N=2 grows about 5x (a pair row yields augmented copies of each sentence).
    mrpc=TaskScale(
        teacher_rows=None, teacher_epochs=3, student_rows=1000, dev_rows=None, max_seq_len=128, aug_n=2, teacher_lr=1e-4
    ),
    stage1_epochs=2,
    stage2_epochs=2,
    baseline_epochs=4,
    # On the augmented set (about 4-5x larger): stage 2 gets the paper's 3 epochs. 2L SST-2 pilots with the
    # teacher of this profile: 83.4 with 1 stage-1 epoch, 83.7 with 2 (96.6% and 96.95% of its 86.4).
    aug_stage1_epochs=2,
    aug_stage2_epochs=3,
    # Stage 2 at the paper's 3e-5 moves a student little in a few hundred steps (2L SST-2 pilot: 75.6 at
    # 3e-5 vs 76.3 at 1e-4 on 800 rows); the labels baseline uses the same 1e-4, so the comparison is fair.
    lr2=1e-4,
    # Issue 12's targets are on SST-2; MRPC (results/cpu-b1d2c40) would add about 80% of SST-2's student time.
    tasks=("sst-2",),
    # The students issue 12 is judged on, and the random-init control their general distillation must beat;
    # minilm3-tinit / minilm2-tinit (results/cpu-b1d2c40) would add about 40% more student time.
    students=("tinybert4", "tinybert4-gd", "mid4-gd", "narrow4-gd"),
    # The deployed forms of the student built for the >= 3x target (4L/240H: 3.75x the teacher at batch 32).
    deploy_student="mid4-gd",
)

GPU = Profile(
    name="gpu",
    sst2=TaskScale(teacher_rows=None, teacher_epochs=3, student_rows=None, dev_rows=None, max_seq_len=64, aug_n=20),
    mrpc=TaskScale(teacher_rows=None, teacher_epochs=3, student_rows=None, dev_rows=None, max_seq_len=128, aug_n=20),
    stage1_epochs=20,
    stage2_epochs=3,
    baseline_epochs=3,
    aug_stage1_epochs=20,
    aug_stage2_epochs=3,
    teacher_lr=2e-5,
    baseline_lr=5e-5,
    device="auto",
    threads=4,
    general_corpus_rows=None,
    general_epochs=3,
    general_max_seq_len=128,
)

SMOKE = Profile(
    name="smoke",
    sst2=TaskScale(teacher_rows=24, teacher_epochs=1, student_rows=16, dev_rows=16, max_seq_len=32, aug_n=2),
    mrpc=TaskScale(teacher_rows=24, teacher_epochs=1, student_rows=12, dev_rows=12, max_seq_len=48, aug_n=1),
    stage1_epochs=1,
    stage2_epochs=1,
    baseline_epochs=1,
    aug_stage1_epochs=1,
    aug_stage2_epochs=1,
    batch_size=8,
    latency_repeats_b1=2,
    latency_repeats_b32=1,
    latency_warmup=1,
    general_corpus_rows=48,
    # One student of each start (random, the teacher's layers, a general distillation): every code path of the
    # driver, at half the cells of all six (the test suite's slowest module, issue 10).
    students=("tinybert4", "minilm3-tinit", "mid4-gd"),
    fresh_width=(24, 12, 48),  # the tests' tiny teachers have 12 heads and hidden 48
)

CPU_BASE = replace(
    CPU,
    name="cpu-base",
    # A 12x768 teacher costs about 8x MiniLM-L6 per forward pass, so everything is smaller than in ``cpu``: the
    # teacher sees 4,000 SST-2 rows once, the students 1,000 rows that N=4 grows about 4x, general distillation
    # 8,000 corpus lines. Estimated at about 75 min in fp32 on 2 AVX2 cores; measured 20.7 min in bf16 on 2 AMX cores
    # (results/cpu-base/README.md; its students collapsed, see there). The rest
    # (MRPC's scale, unused here; learning rates, batch, seed, threads, latency protocol) is ``cpu``'s.
    sst2=TaskScale(teacher_rows=4000, teacher_epochs=1, student_rows=1000, dev_rows=None, max_seq_len=64, aug_n=4),
    stage1_epochs=1,
    stage2_epochs=2,
    baseline_epochs=3,
    aug_stage1_epochs=1,
    aug_stage2_epochs=2,
    general_corpus_rows=8000,
    teacher_model="all-mpnet-base-v2",
    tasks=("sst-2",),
    # Students that start from general distillation, and 4 layers of the pre-trained MiniLM-L6 (its vocabulary
    # re-indexed to MPNet's): the teacher-initialised ones would copy MPNet layers into a BERT, and the
    # random-init TinyBERT4 shape is known to collapse (profile cpu).
    students=("tinybert4-gd", "narrow4-gd", "minilm4-pre"),
    deploy_student="tinybert4-gd",
    speed_target=7.0,  # issue 18: >= 97% of the MPNet-base teacher at >= 7x its batch-32 throughput
)

#: cpu-base's teacher and general distillation with ``cpu``'s student budget (4,000 SST-2 rows that N=4 grows about
#: 4x; stage 1 / stage 2 2 / 2 epochs, on the augmented set 2 / 3, labels 4): the 1,000 rows of cpu-base leave
#: distill and distill+aug within noise of labels (results/cpu-base-minilm4-pre), so this asks whether the MPNet
#: teacher's students were short of data rather than of capacity. About 4-5x cpu-base's student time.
CPU_BASE_4K = replace(
    CPU_BASE,
    name="cpu-base-4k",
    sst2=replace(CPU_BASE.sst2, student_rows=CPU.sst2.student_rows),
    stage1_epochs=CPU.stage1_epochs,
    stage2_epochs=CPU.stage2_epochs,
    baseline_epochs=CPU.baseline_epochs,
    aug_stage1_epochs=CPU.aug_stage1_epochs,
    aug_stage2_epochs=CPU.aug_stage2_epochs,
    students=("tinybert4-gd", "minilm4-pre"),
)

#: cpu-base-4k for minilm4-pre with the attention loss off (weight 0): cpu-base-4k's distill cells were no
#: better than labels with the MPNet teacher, and MPNet's attention scores (with a relative position bias that a
#: BERT student lacks) are the first suspect. Same teacher recipe, rows and epochs; its own cache folder.
CPU_BASE_4K_NOATT = replace(
    CPU_BASE_4K,
    name="cpu-base-4k-noatt",
    students=("minilm4-pre",),
    deploy_student="minilm4-pre",
    loss_weights=(1.0, 0.0, 1.0, 1.0),
)

#: cpu-base-4k for minilm4-pre without stage 1 (prediction-layer distillation only, the paper's stage 2, on the
#: task rows and on the augmented rows): the attention-off ablation did worse than labels, so this asks whether
#: fitting MPNet's intermediate states at all is what costs a pre-trained student with 4,000 rows.
CPU_BASE_4K_PRED = replace(CPU_BASE_4K_NOATT, name="cpu-base-4k-pred", stage1_epochs=0, aug_stage1_epochs=0,
                           loss_weights=(1.0, 1.0, 1.0, 1.0))  # fmt: skip

#: cpu-base-4k-pred with the paper's N=20 augmentation (about 80,000 rows for stage 2's 3 epochs): does more
#: augmented data carry prediction-layer distillation further?
CPU_BASE_4K_PRED_N20 = replace(
    CPU_BASE_4K_PRED, name="cpu-base-4k-pred-n20", sst2=replace(CPU_BASE_4K_PRED.sst2, aug_n=20)
)

#: cpu-base-4k-pred-n20 with a 4th stage-2 epoch on the augmented rows: more steps helped so far (81.2 with
#: N=4's 16,600 rows, 84.7 with N=20's 64,300, 3 epochs each); does a 4th pass over the same rows add more?
CPU_BASE_4K_PRED_N20_E4 = replace(CPU_BASE_4K_PRED_N20, name="cpu-base-4k-pred-n20-e4", aug_stage2_epochs=4)

#: cpu-base-4k-pred-n20-e4 with real sentences in place of most augmented ones, at about the same stage-2 work:
#: the students see 16,000 SST-2 training rows and N=4 (about 66,000 rows for stage 2, against 64,300 from
#: 4,000 rows at N=20). The teacher is the same (fine-tuned on 4,000 rows).
CPU_BASE_16K_PRED_E4 = replace(
    CPU_BASE_4K_PRED_N20_E4,
    name="cpu-base-16k-pred-e4",
    sst2=replace(CPU_BASE_4K_PRED_N20_E4.sst2, student_rows=16000, aug_n=4),
)

#: cpu-base-16k-pred-e4 for the whole pre-trained MiniLM-L6 (6 layers): 4 layers stopped at 86.0-86.2 with
#: either recipe, short of 97% of the teacher; is that the student's capacity? Same teacher and rows.
CPU_BASE_16K_PRED_E4_MINILM6 = replace(
    CPU_BASE_16K_PRED_E4, name="cpu-base-16k-pred-e4-minilm6", students=("minilm6-pre",), deploy_student="minilm6-pre"
)

#: cpu-base-16k-pred-e4-minilm6's recipe with its training on a GPU (an H200 lent for 15 minutes): same
#: teacher recipe, rows, epochs, batch and seed; bf16 autocast on CUDA. The augmented rows are made beforehand on
#: a CPU in fp32 with the full GloVe (bench/gpu_quality_carry.py: a GPU machine reaches no index and takes 64 MiB a
#: call) and found in the cache. Latency still runs on that machine's CPU, 1 thread, with fewer repeats; the
#: speed-up that counts is shape_latency.py's on our CPU machines.
GPU_BASE_16K_PRED_E4_MINILM6 = replace(
    CPU_BASE_16K_PRED_E4_MINILM6,
    name="gpu-base-16k-pred-e4-minilm6",
    device="cuda",
    threads=8,
    augment_precision="fp32",
    latency_repeats_b1=10,
    latency_repeats_b32=5,
)

#: The same with seeds 43, 44, 45 for the teacher's rows and every training run (the student rows and augmented
#: rows are seed 42's, copied into its cache on the GPU machine: GQ_ROWS_FROM in bench/gpu_quality.sh): how far
#: does one seed's figure move? (43 ran on 2026-12-01; 44 and 45 are ready for the next lent GPU.)
GPU_BASE_16K_PRED_E4_MINILM6_SEEDS = tuple(
    replace(GPU_BASE_16K_PRED_E4_MINILM6, name=f"gpu-base-16k-pred-e4-minilm6-s{seed}", seed=seed)
    for seed in (43, 44, 45)
)

#: cpu-base's choices (one task, students from general distillation, its deploy student and speed target) at
#: smoke scale: the tests run it on a tiny MPNet teacher given with --base-model.
SMOKE_BASE = replace(
    SMOKE,
    name="smoke-base",
    tasks=CPU_BASE.tasks,
    students=CPU_BASE.students[:1],  # the deploy student; narrow4-gd runs the same code from another shape
    deploy_student=CPU_BASE.deploy_student,
    speed_target=CPU_BASE.speed_target,
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        CPU,
        CPU_BASE,
        CPU_BASE_4K,
        CPU_BASE_4K_NOATT,
        CPU_BASE_4K_PRED,
        CPU_BASE_4K_PRED_N20,
        CPU_BASE_4K_PRED_N20_E4,
        CPU_BASE_16K_PRED_E4,
        CPU_BASE_16K_PRED_E4_MINILM6,
        GPU_BASE_16K_PRED_E4_MINILM6,
        *GPU_BASE_16K_PRED_E4_MINILM6_SEEDS,
        GPU,
        SMOKE,
        SMOKE_BASE,
    )
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise SystemExit(f"unknown profile {name!r}; use one of {', '.join(PROFILES)}")
    return PROFILES[name]


__all__ = [
    "CPU",
    "CPU_BASE",
    "CPU_BASE_4K",
    "CPU_BASE_4K_NOATT",
    "CPU_BASE_4K_PRED",
    "CPU_BASE_4K_PRED_N20",
    "CPU_BASE_4K_PRED_N20_E4",
    "CPU_BASE_16K_PRED_E4",
    "CPU_BASE_16K_PRED_E4_MINILM6",
    "GPU",
    "PROFILES",
    "SMOKE",
    "Profile",
    "TaskScale",
    "get_profile",
    "replace",
]
