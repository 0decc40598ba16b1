"""How much each layer's sentence representation varies across sentences: a check for collapsed students.

For every model folder given (any ``AutoModel`` encoder) and every hidden-state layer, over the first N SST-2
dev sentences tokenized with one tokenizer: the spread of the first token's vector and of the mean-pooled
vector across sentences, as the mean per-dimension standard deviation divided by the RMS value of the vector
(0 = every sentence gets the same vector; about 1 = as varied as its magnitude). A student whose last layers
read near 0 gives the classifier nothing to separate, whatever it is trained with afterwards.

    .venv/bin/python bench/representation_spread.py --tokenizer TEACHER_DIR MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
SST2_DEV = REPO.parent / "shared" / "data" / "glue" / "SST-2" / "dev.tsv"


def spread(vectors):  # type: ignore[no-untyped-def]
    """Mean per-dimension std across rows, over the RMS entry of the rows (scale-free)."""
    rms = vectors.pow(2).mean().sqrt()
    return float(vectors.std(0).mean() / rms)


def main() -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="encoder folders")
    parser.add_argument("--tokenizer", required=True, help="folder of the tokenizer all models share")
    parser.add_argument("--sentences", type=int, default=64)
    args = parser.parse_args()
    lines = SST2_DEV.read_text(encoding="utf-8").splitlines()[1 : args.sentences + 1]
    sentences = [line.split("\t")[0] for line in lines]
    batch = AutoTokenizer.from_pretrained(args.tokenizer)(sentences, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].unsqueeze(-1).float()
    print(f"representation spread over {len(sentences)} SST-2 dev sentences (0 = the same vector for all)")
    print("| model | layer | first token | mean-pooled |\n| --- | --- | --- | --- |")
    for folder in args.models:
        model = AutoModel.from_pretrained(folder).eval()
        with torch.no_grad():
            hidden = model(**batch, output_hidden_states=True).hidden_states
        for layer, h in enumerate(hidden):
            pooled = (h * mask).sum(1) / mask.sum(1)
            print(f"| {Path(folder).name if Path(folder).name != 'model' else Path(folder).parent.name} | {layer} "
                  f"| {spread(h[:, 0]):.3f} | {spread(pooled):.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
