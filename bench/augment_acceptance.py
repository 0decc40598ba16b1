"""The bf16 issue's augmentation acceptance check: ``distillery augment`` with default settings (N=20, K=15,
p=0.4, precision auto) on the first 400 SST-2 dev rows with a MiniLM-sized (6 x 384, random weights, the real
bert-base-uncased vocabulary) masked LM, timed end to end as a user runs it (process start, model and GloVe
loading included), against the naive reference (bench/reference_augment.py) on the same MLM. One thread per
side; the sides alternate round by round and each keeps its best round. ``distillery augment --precision
fp32`` runs as a third side, so the print shows what bf16 buys on this CPU.

Prints the CPU's bf16 flags, each side's wall seconds and rows/s, and the ratios; then an arithmetic bound:
the FLOPs of the encoder's linear layers over the run's masked copies, this core's best rate for one such linear
in the precision ``auto`` chose, and the start-up of ``distillery augment`` (timed on a 1-row input), which
together cap the rows/s any implementation of the same masked copies could reach here. The output also goes to
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
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # 1 thread per side, before torch loads (the CLI's subprocess inherits it)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from augment_bench import build_model, mlm_jobs, read_sentences, reference_inputs, run_reference  # noqa: E402
from precision_bench import Tee, isa_report  # noqa: E402

RESULTS = REPO / "bench" / "results" / "augment_acceptance"
TARGET = 20.0  # the issue's: default settings reach 20x the reference's rows/s


#: The CLI sides: label -> (--precision, extra environment). "auto, transformers" loads the same MLM through
#: transformers' classes instead of bert_mlm.py's plain modules (same candidates; the import is what differs).
CLI_SIDES = {
    "auto": ("auto", {}),
    "auto, transformers": ("auto", {"DISTILLERY_MLM_PLAIN_BERT": "false"}),
    "fp32": ("fp32", {}),
}


def time_cli(input_tsv: Path, output: Path, mlm: Path, side: str) -> float:
    """Wall seconds of one ``distillery augment`` process with default settings (but the side's precision
    and environment)."""
    precision, env = CLI_SIDES[side]
    cmd = [sys.executable, "-m", "services.cli.main", "augment", "--input", str(input_tsv), "--output", str(output)]
    cmd += ["--task", "sst-2", "--mlm-model", str(mlm), "--device", "cpu", "--precision", precision]
    start = time.perf_counter()
    subprocess.run(
        cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env}
    )
    return time.perf_counter() - start


def masked_copy_work(mlm: Path, sentences: Sequence[str]) -> tuple[int, int, float, Any]:
    """(masked copies, their tokens, GFLOP of the encoder's linear layers plus the MLM head at the mask rows, the
    engine) for the default settings, as the engine runs them: the plain BERT MLM's bf16 pass computes its last
    layer's keys and values for every token but the rest of that layer at the mask rows only."""
    from workers.augment.engine import AugmentParams, get_augmenter

    augmenter = get_augmenter(AugmentParams.from_settings(mlm_model=str(mlm), device="cpu", precision="auto"))
    inputs = [
        augmenter.mlm.build_input(ids, pos, augmenter.params.pair_input) for ids, pos in mlm_jobs(augmenter, sentences)
    ]
    inputs = [x for x in inputs if x is not None]  # a copy whose mask truncation would cut never runs
    tokens = sum(len(x[0]) for x in inputs)
    c = augmenter.mlm.model.config
    h, f, layers, vocab = c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.vocab_size
    copies = len(inputs)
    head = 2 * copies * (h * h + h * vocab)
    if last_layer_at_mask_rows(augmenter):
        last = 2 * tokens * 2 * h * h + 2 * copies * (2 * h * h + 2 * h * f)
        flop = 2 * tokens * (layers - 1) * (4 * h * h + 2 * h * f) + last + head
    else:
        flop = 2 * tokens * layers * (4 * h * h + 2 * h * f) + head
    return copies, tokens, flop / 1e9, augmenter


def last_layer_at_mask_rows(augmenter: Any) -> bool:
    """Whether the engine's MLM runs its last layer at the mask rows only, by the engine's own rule."""
    return bool(augmenter.mlm.last_layer_at_mask_rows(augmenter.precision.bf16))


def best_linear_gflops(hidden: int, ffn: int, bf16: bool, repeats: int = 20) -> float:
    """This core's best GFLOP/s for the encoder's FFN-in linear (2048 tokens x hidden -> ffn), in the engine's precision."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    x, w = torch.randn(2048, hidden, dtype=dtype), torch.randn(ffn, hidden, dtype=dtype)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            torch.nn.functional.linear(x, w)
            best = min(best, time.perf_counter() - start)
    return 2 * 2048 * hidden * ffn / best / 1e9


def print_bound(mlm: Path, sentences: Sequence[str], startup: float, reference: float) -> None:
    copies, tokens, gflop, augmenter = masked_copy_work(mlm, sentences)
    c, bf16 = augmenter.mlm.model.config, augmenter.precision.bf16
    rate = best_linear_gflops(c.hidden_size, c.intermediate_size, bf16)
    floor = startup + gflop / rate
    print(f"\n== arithmetic bound ({'bf16' if bf16 else 'fp32'}, as auto chose: {augmenter.precision.reason})")
    layers = "last layer at the mask rows" if last_layer_at_mask_rows(augmenter) else "every layer in full"
    print(
        f"masked copies {copies}, {tokens} tokens; linear layers ({layers}) + head at the mask rows: {gflop:.0f} GFLOP"
    )
    print(
        f"best linear rate of this core (2048x{c.hidden_size} @ {c.hidden_size}x{c.intermediate_size}): {rate:.0f} GFLOP/s"
    )
    print(f"start-up of distillery augment (1-row input, best round): {startup:.2f} s")
    print(
        f"floor: {startup:.2f} s + {gflop / rate:.2f} s of linear layers at that rate = {floor:.2f} s, "
        f"i.e. at most {len(sentences) / floor:.2f} rows/s = {len(sentences) / floor / reference:.1f}x the reference"
    )


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
    input_tsv, one_row = tmp / "input.tsv", tmp / "one-row.tsv"
    write_table(table, input_tsv)
    table.rows = table.rows[:1]
    write_table(table, one_row)
    glove_words, glove_raw, stop_words = reference_inputs()
    ref_args = argparse.Namespace(k=15, n=20, p=0.4)

    best: dict[str, float] = {}
    for _ in range(args.repeats):
        ref = run_reference(mlm, sentences[: args.ref_rows], ref_args, glove_words, glove_raw, stop_words)
        best["reference"] = max(best.get("reference", 0.0), ref["rows_per_s"])
        for side in CLI_SIDES:
            seconds = time_cli(input_tsv, tmp / "out.tsv", mlm, side)
            best[f"cli {side}"] = max(best.get(f"cli {side}", 0.0), len(sentences) / seconds)
        for side in ("auto", "auto, transformers"):
            startup = time_cli(one_row, tmp / "out-one.tsv", mlm, side)
            best[f"start-up {side}"] = min(best.get(f"start-up {side}", float("inf")), startup)

    print(f"\n== {len(sentences)} SST-2 dev rows, MiniLM-sized MLM (6 x 384, random), N=20, K=15, p=0.4")
    print(f"reference                         {best['reference']:8.2f} rows/s (first {args.ref_rows} rows, in-process)")
    for side, (precision, env) in CLI_SIDES.items():
        rate = best[f"cli {side}"]
        how = " ".join(f"{k}={v}" for k, v in env.items()) or "default loader"
        print(
            f"distillery augment --precision {precision:4} {rate:8.2f} rows/s (wall, process start included), "
            f"{rate / best['reference']:.1f}x the reference  [{how}]"
        )
    for side in ("auto", "auto, transformers"):
        print(f"start-up of distillery augment, {side} (1-row input, best round): {best[f'start-up {side}']:.2f} s")
    ratio = best["cli auto"] / best["reference"]
    print(f"target: default settings >= {TARGET:.0f}x the reference: {'met' if ratio >= TARGET else 'MISSED'}")
    print_bound(mlm, sentences, best["start-up auto"], best["reference"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
