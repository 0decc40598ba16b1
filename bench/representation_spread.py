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


def layer_spreads(folder: str | Path, tokenizer: str | Path, count: int = 64) -> list[tuple[float, float]]:
    """(first token, mean-pooled) spread of every hidden-state layer of ``folder`` over the first ``count``
    SST-2 dev sentences, tokenized by ``tokenizer``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    lines = SST2_DEV.read_text(encoding="utf-8").splitlines()[1 : count + 1]
    sentences = [line.split("\t")[0] for line in lines]
    batch = AutoTokenizer.from_pretrained(tokenizer)(sentences, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].unsqueeze(-1).float()
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(folder).eval()(**batch, output_hidden_states=True).hidden_states
    return [(spread(h[:, 0]), spread((h * mask).sum(1) / mask.sum(1))) for h in hidden]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="encoder folders")
    parser.add_argument("--tokenizer", required=True, help="folder of the tokenizer all models share")
    parser.add_argument("--sentences", type=int, default=64)
    args = parser.parse_args()
    print(f"representation spread over {args.sentences} SST-2 dev sentences (0 = the same vector for all)")
    print("| model | layer | first token | mean-pooled |\n| --- | --- | --- | --- |")
    for folder in args.models:
        name = Path(folder).name if Path(folder).name != "model" else Path(folder).parent.name
        for layer, (first, pooled) in enumerate(layer_spreads(folder, args.tokenizer, args.sentences)):
            print(f"| {name} | {layer} | {first:.3f} | {pooled:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
