"""The bf16 issue's augmentation acceptance check: ``distillery augment`` with default settings (N=20, K=15,
p=0.4, precision auto) on the first 400 SST-2 dev rows with a MiniLM-sized (6 x 384, random weights, the real
bert-base-uncased vocabulary) masked LM, timed end to end as a user runs it (process start, model and GloVe
loading included), against the naive reference (bench/reference_augment.py) on the same MLM. One thread per
side; the sides alternate round by round and each keeps its best round. ``distillery augment --precision
fp32`` runs as a third side, so the print shows what bf16 buys on this CPU.

Prints the CPU's bf16 flags, each side's wall seconds and rows/s, and the ratios; the output also goes to
bench/results/augment_acceptance/<--name>.txt.

    .venv/bin/python bench/augment_acceptance.py --name idle-$(hostname)
    .venv/bin/python bench/augment_acceptance.py --name smoke --rows 8 --ref-rows 2 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # 1 thread per side, before torch loads (the CLI's subprocess inherits it)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from augment_bench import build_model, read_sentences, reference_inputs, run_reference  # noqa: E402
from precision_bench import Tee, isa_report  # noqa: E402

RESULTS = REPO / "bench" / "results" / "augment_acceptance"
TARGET = 20.0  # the issue's: default settings reach 20x the reference's rows/s


def time_cli(input_tsv: Path, output: Path, mlm: Path, precision: str) -> float:
    """Wall seconds of one ``distillery augment`` process with default settings (but ``--precision``)."""
    cmd = [sys.executable, "-m", "services.cli.main", "augment", "--input", str(input_tsv), "--output", str(output)]
    cmd += ["--task", "sst-2", "--mlm-model", str(mlm), "--device", "cpu", "--precision", precision]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="latest", help="results file name (bench/results/augment_acceptance/)")
    parser.add_argument("--rows", type=int, default=400, help="SST-2 dev rows given to distillery augment")
    parser.add_argument("--ref-rows", type=int, default=40, help="rows the (slow) reference augments")
    parser.add_argument("--repeats", type=int, default=2, help="rounds; each side keeps its best")
    args = parser.parse_args(argv)
    sys.stdout = Tee(RESULTS / f"{args.name}.txt")  # type: ignore[assignment]
    print(f"augment_acceptance {time.strftime('%Y-%m-%d %H:%M:%S')}, 1 thread per side, {os.cpu_count()} CPUs")
    isa_report()

    from shared.dataset_io import write_table

    tmp = Path(tempfile.mkdtemp(prefix="augment-acceptance-"))
    mlm = build_model("minilm", tmp)
    table, _, sentences = read_sentences(args.rows)
    input_tsv = tmp / "input.tsv"
    write_table(table, input_tsv)
    glove_words, glove_raw, stop_words = reference_inputs()
    ref_args = argparse.Namespace(k=15, n=20, p=0.4)

    best: dict[str, float] = {}
    for _ in range(args.repeats):
        ref = run_reference(mlm, sentences[: args.ref_rows], ref_args, glove_words, glove_raw, stop_words)
        best["reference"] = max(best.get("reference", 0.0), ref["rows_per_s"])
        for precision in ("auto", "fp32"):
            seconds = time_cli(input_tsv, tmp / f"out-{precision}.tsv", mlm, precision)
            best[f"cli {precision}"] = max(best.get(f"cli {precision}", 0.0), len(sentences) / seconds)

    print(f"\n== {len(sentences)} SST-2 dev rows, MiniLM-sized MLM (6 x 384, random), N=20, K=15, p=0.4")
    print(f"reference                         {best['reference']:8.2f} rows/s (first {args.ref_rows} rows, in-process)")
    for precision in ("auto", "fp32"):
        rate = best[f"cli {precision}"]
        print(
            f"distillery augment --precision {precision:4} {rate:8.2f} rows/s (wall, process start included), "
            f"{rate / best['reference']:.1f}x the reference"
        )
    ratio = best["cli auto"] / best["reference"]
    print(f"target: default settings >= {TARGET:.0f}x the reference: {'met' if ratio >= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
