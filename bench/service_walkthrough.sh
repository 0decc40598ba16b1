#!/usr/bin/env bash
# Times the curl walkthrough of docs/service.md against a fresh `distillery up` (embedded Redis), then
# measures what a status poll costs (median of 200 GET /v1/jobs/{id}). Usage:
#   bench/service_walkthrough.sh [ROWS=200] [WORKERS=2]
set -euo pipefail
source "$(dirname "$0")/service_up.sh"
record_output service_walkthrough "$@"  # everything printed below is kept in bench/results/service_walkthrough/
ROWS=${1:-200}
WORKERS=${2:-2}
start_service "$WORKERS" 8765
head -n $((ROWS + 1)) ../shared/data/glue/SST-2/dev.tsv >"$WORK/sst2.tsv"

START=$(date +%s.%N)
# --- the walkthrough (docs/service.md) ---
DS=$(curl -sf -H "Authorization: Bearer $KEY" -F file=@"$WORK/sst2.tsv" -F task=sst-2 "$BASE/v1/datasets" | json '["id"]')
JOB=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"dataset_id\": \"$DS\", \"mlm_model\": \"$MLM\", \"shard_rows\": 50}" "$BASE/v1/augmentations" | json '["id"]')
while :; do
  STATUS=$(curl -sf -H "Authorization: Bearer $KEY" "$BASE/v1/jobs/$JOB" | json '["status"]')
  case $STATUS in succeeded|failed|cancelled) break ;; esac
  sleep 1
done
curl -sf -H "Authorization: Bearer $KEY" -o "$WORK/augmented.tsv" "$BASE/v1/jobs/$JOB/result"
END=$(date +%s.%N)

echo "job $JOB: $STATUS; $(($(wc -l <"$WORK/augmented.tsv") - 1)) rows out from $ROWS rows in, $WORKERS workers"
echo "walkthrough wall time (upload -> augment -> poll -> download): $(echo "$END - $START" | bc) s"
curl -sf -H "Authorization: Bearer $KEY" "$BASE/v1/jobs/$JOB" | json '["progress"]'
.venv/bin/python bench/service_poll_latency.py "$BASE" "$KEY" "$JOB" 200
