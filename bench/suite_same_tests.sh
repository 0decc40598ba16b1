#!/usr/bin/env bash
# The test suite's wall time against an older commit's, side by side on this machine, in two ways:
#   1. the older commit's whole suite (its README command then: one pytest process) in a clone of it;
#   2. today's code on exactly the tests both commits have (same ids), with the same command.
# So "the suite got slower" can be split into "the same tests got slower" and "there are more tests".
# Usage (repository root, an idle machine, .venv built): bash bench/suite_same_tests.sh [OLD_COMMIT]   (6f9497c)
# About 2 x 6-7 min on a 2-core AVX2 EPYC. The whole current suite is `make test` (two xdist workers).
set -euo pipefail
OLD=${1:-6f9497c}
source bench/record.sh
record_output suite_same_tests "$@"
work=$(mktemp -d)
old=$(mktemp -d -p "$(dirname "$PWD")" .suite-old.XXXX)  # beside this checkout: the tests read ../shared
trap 'rm -rf "$work" "$old"' EXIT
git clone -q . "$old" && git -C "$old" checkout -q "$OLD" && ln -s "$PWD/.venv" "$old/.venv"
collect() { (cd "$1" && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q --collect-only -p no:cacheprovider | grep '::' | sort); }
collect "$old" >"$work/old_ids.txt"
collect . >"$work/new_ids.txt"
comm -12 "$work/old_ids.txt" "$work/new_ids.txt" >"$work/same_ids.txt"
echo "tests: $OLD has $(wc -l <"$work/old_ids.txt"), HEAD $(wc -l <"$work/new_ids.txt"), both $(wc -l <"$work/same_ids.txt")"
echo "in $OLD only: $(comm -23 "$work/old_ids.txt" "$work/new_ids.txt" | tr '\n' ' ')"
seconds() { grep -Eo 'in [0-9.]+s' "$1" | tail -1 | grep -Eo '[0-9.]+'; }
echo "== 1. $OLD's whole suite (one process) =="
(cd "$old" && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -p no:cacheprovider) >"$work/old.log" 2>&1 || true
tail -1 "$work/old.log"
echo "== 2. HEAD on the tests both have (one process) =="
KEEP_IDS="$work/same_ids.txt" PYTHONPATH="$PWD/bench/suite" HF_HUB_OFFLINE=1 \
  .venv/bin/python -m pytest -q -p no:cacheprovider -p keep_listed >"$work/new.log" 2>&1 || true
tail -1 "$work/new.log"
old_s=$(seconds "$work/old.log") new_s=$(seconds "$work/new.log")
echo "same tests: HEAD ${new_s} s vs $OLD ${old_s} s of pytest: $(python3 -c "print(f'{$new_s / $old_s:.2f}')")x"
