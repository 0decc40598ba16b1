# Sourced by the bench walkthroughs (`source "$(dirname "$0")/service_up.sh"`): it moves to the repository root
# and loads bench/record.sh (record_output). `start_service WORKERS PORT` starts a fresh `distillery up` (embedded
# Redis, its own data folder) on $PORT if set, else PORT, and waits until it is ready; it sets WORK, BASE and KEY,
# and an EXIT trap that stops the service and removes WORK. Also sets MLM (the offline masked LM) and json (reads
# a field of the JSON on stdin: `... | json '["id"]'`).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/record.sh
start_service() {
  PORT=${PORT:-$2}
  WORK=$(mktemp -d)
  export DISTILLERY_DATA_DIR=$WORK/data HF_HUB_OFFLINE=1
  # requests may name models only under these roots (docs/service.md, "Model references")
  export DISTILLERY_MODEL_ROOTS=${DISTILLERY_MODEL_ROOTS:-$(cd ../shared/models && pwd),$WORK}
  unset DISTILLERY_REDIS_URL DISTILLERY_API_KEYS
  .venv/bin/distillery up --port "$PORT" --workers "$1" >"$WORK/up.log" 2>&1 &
  UP=$!
  trap 'kill -TERM $UP 2>/dev/null; wait $UP 2>/dev/null; rm -rf "$WORK"' EXIT
  BASE=http://127.0.0.1:$PORT
  until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.5; done
  KEY=$(sed -n "s/^API key (team 'default'): //p" "$WORK/up.log")
}
json() { .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)$1)"; }
MLM=$(cd ../shared/models/minilm3-mlm-rough && pwd)
