"""General-distillation variants side by side: does a student come out collapsed, and does it learn a task?

For each variant (a name, the attention loss's weight, the peak learning rate, the epochs) this distils the
TinyBERT4 shape (4L/312H/12 heads) from one pre-trained teacher on one corpus, then measures
* the spread of the student's last layer across SST-2 dev sentences (bench/representation_spread.py; 0 = the
  same vector for every sentence), first token and mean-pooled, and
* the SST-2 dev accuracy after a labels-only fine-tune of it (``--label-rows`` rows, ``--label-epochs``),
so a recipe that collapses the student shows as a spread near 0 and an accuracy at the majority class.
Recorded by bench/record.py under bench/results/general_pilot/.

    .venv/bin/python bench/general_pilot.py --teacher MPNET_DIR --corpus CORPUS.txt --train SST2_TRAIN_SUBSET.tsv \
        --variants paper:1:1e-4:1,attn0.1:0.1:1e-4:1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from record import recorded  # noqa: E402
from representation_spread import SST2_DEV, layer_spreads  # noqa: E402


def main() -> int:
    from workers.distill.finetune import FinetuneConfig, finetune
    from workers.distill.general import GeneralDistillConfig, general_distill
    from workers.distill.losses import LossWeights
    from workers.distill.models import StudentSpec

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="pre-trained encoder folder (not fine-tuned)")
    parser.add_argument("--corpus", required=True, help=".txt corpus, one passage per line")
    parser.add_argument("--train", required=True, help="SST-2 rows for the labels-only fine-tune")
    parser.add_argument("--variants", required=True, help="comma list of name:attention_weight:lr:epochs")
    parser.add_argument("--label-epochs", type=int, default=3)
    parser.add_argument("--max-seq-len", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="general-pilot-"))
    rows = []
    with recorded("general_pilot"):
        for variant in args.variants.split(","):
            name, attention, lr, epochs = variant.split(":")
            out = work / name
            started = time.time()
            report = general_distill(
                GeneralDistillConfig.from_settings(
                    teacher=args.teacher, corpus=[args.corpus], output_dir=out / "general",
                    student=StudentSpec(4, 312, 12, 1200), epochs=int(epochs), lr=float(lr), batch_size=32,
                    max_seq_len=args.max_seq_len, seed=42, device="cpu", checkpoint_every=10**9,
                    loss_weights=LossWeights(attention=float(attention)),
                )
            )  # fmt: skip
            gd_seconds = time.time() - started
            history = report["stages"][0]["loss_history"] if report["stages"] else []
            last = history[-1] if history else {"step": 0, "attention": float("nan"), "hidden": float("nan")}
            first_token, pooled = layer_spreads(out / "general", args.teacher)[-1]
            tuned = finetune(
                FinetuneConfig(
                    model=str(out / "general"), train=Path(args.train), dev=SST2_DEV, task="sst-2",
                    output_dir=out / "labels", epochs=args.label_epochs, batch_size=32,
                    max_seq_len=args.max_seq_len, device="cpu",
                )
            )  # fmt: skip
            row = (
                f"| {name} | {attention} | {lr} | {epochs} | {last['step']} | {gd_seconds:.0f} | {last['attention']:.2f} "
                f"| {last['hidden']:.3f} | {first_token:.3f} / {pooled:.3f} | {100 * tuned['dev']['accuracy']:.1f} |"
            )
            rows.append(row)
            print(row, flush=True)
        print(
            f"\nTinyBERT4 shape from {args.teacher} on {args.corpus}; labels: {args.train}, {args.label_epochs} epochs"
        )
        print("| variant | attention weight | lr | epochs | steps | GD s | final attention loss | final hidden loss "
              "| last-layer spread (first token / mean) | SST-2 dev after labels |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
