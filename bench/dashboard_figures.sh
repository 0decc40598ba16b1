#!/usr/bin/env bash
# The dashboard's two figures in README.md, recorded: the bytes of its own JS + CSS (against the 150 KB budget)
# and how long a status change in Redis takes to show on the page in a real browser (chromium, SSE), printed
# by the tests that assert them. Usage (repository root, `make setup` done): bench/dashboard_figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/record.sh
record_output dashboard_figures "$@"  # everything printed below is kept in bench/results/dashboard_figures/
.venv/bin/python -m pytest -s -q -p no:cacheprovider tests/test_api_dashboard.py -k budget
.venv/bin/python -m pytest -s -q -p no:cacheprovider tests/test_dashboard_browser.py -k within_a_second
