# Sourced by the shell benches (from the repository root): `record_output NAME "$@"` tees everything the
# script prints from then on into bench/results/NAME/<UTC time>.txt, headed by the command, commit and machine
# (bench/record.py writes the same header for the Python benches).
record_output() {
  local name=$1
  shift
  mkdir -p "bench/results/$name"
  RECORD="bench/results/$name/$(date -u +%Y%m%dT%H%M%SZ).txt"
  {
    echo "# command: bench/$name.sh $*"
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "# machine: $(uname -m), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "# cpu: $(python3 -c 'import sys; sys.path.insert(0, "bench"); import record; print(record.cpu_line())')"
  } >"$RECORD"
  exec > >(tee -a "$RECORD") 2>&1
}
