#!/usr/bin/env bash
# A quality-bench profile's training on a lent GPU machine, from parts made by bench/gpu_quality_carry.py.
#
#   bench/gpu_quality.sh receive DIR          # one device call per part: keep DIR's part under $GQ
#   bench/gpu_quality.sh run OUT [PROFILE]    # the last call: join the parts, add the wheels, run the profile
#   bench/gpu_quality.sh rows FROM PROFILE    # copy FROM's student and augmented rows into PROFILE's cache
#
# With GQ_ROWS_FROM=FROM, `run` does `rows FROM PROFILE` first: a seed variant then trains on the rows carried
# for FROM (the GPU image has no GloVe to make new ones). $GQ (default /root/gpu-quality) outlives a call only
# while the machine stays warm (30 s after each call), so the calls follow one another at once. A run cut short
# by its timeout leaves its cache there: `run` again continues where it stopped (the quality driver reuses every
# finished step). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GQ=${GQ:-/root/gpu-quality}

join_parts() {  # once: the parts, in order, are one tar.gz
  [ -d "$GQ/x" ] && return
  rm -rf "$GQ/x.tmp" && mkdir -p "$GQ/x.tmp"
  cat "$GQ"/parts/part-* | tar xz -C "$GQ/x.tmp"
  mv "$GQ/x.tmp" "$GQ/x"
}

copy_rows() {  # FROM PROFILE: only into a profile whose cache has nothing yet
  local from=$GQ/x/cache/$1 to=$GQ/x/cache/$2 task_dir
  [ -d "$from" ] || { echo "gpu_quality.sh: no cache for $1 under $GQ/x/cache" >&2; exit 2; }
  [ -d "$to" ] && { echo "$to exists: rows kept"; return; }
  for task_dir in "$from"/*/; do
    mkdir -p "$to/$(basename "$task_dir")"
    cp "$task_dir"student_train_*.tsv "$task_dir"aug_n* "$to/$(basename "$task_dir")/"
  done
  echo "rows of $1 copied into $to"
}

case "${1:-}" in
  receive)
    mkdir -p "$GQ/parts"
    cp "$2"/part-* "$GQ/parts/"
    ls -l "$GQ/parts"
    ;;
  rows)
    copy_rows "$2" "$3"
    ;;
  run)
    OUT=$2 PROFILE=${3:-gpu-base-16k-pred-e4-minilm6}
    join_parts
    [ -n "${GQ_ROWS_FROM:-}" ] && copy_rows "$GQ_ROWS_FROM" "$PROFILE"
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/gq-site "$GQ"/x/whl/*.whl
    export PYTHONPATH=/tmp/gq-site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 QUALITY_MINILM_DIR=$GQ/x/models/minilm-l6
    mkdir -p "$OUT"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/log-run.txt"
    timeout "${GQ_TIMEOUT:-540}" python3 -m bench.quality.run --profile "$PROFILE" --no-deploy-forms \
      --base-model "$GQ/x/models/all-mpnet-base-v2" --glue "$GQ/x/glue" --cache "$GQ/x/cache" --results "$OUT" \
      2>&1 | tee -a "$OUT/log-run.txt"
    exit "${PIPESTATUS[0]}"
    ;;
  *)
    sed -n '2,6p' "$0"
    exit 2
    ;;
esac
