# Two entry points for a new user: `make run` and `make test`. Both set up .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first: the pinned version is the CPU wheel on this machine; anything looser pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/distillery augment --task sst-2 --input ../shared/data/glue/SST-2/dev.tsv \
		--output distillery-data/sst2-dev-augmented.tsv \
		--mlm-model ../shared/models/minilm3-mlm-rough

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) distillery-data
