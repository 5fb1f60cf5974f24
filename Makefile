# Heartline developer commands. Everything a target needs is installed here,
# into .venv, so that `make test` works on a machine with only Python 3.11+.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp records that the editable installs match the packaging files;
# it is rebuilt only when one of them changes.
STAMP := $(VENV)/.installed
PACKAGING := pyproject.toml protocol/pyproject.toml clients/python/pyproject.toml
# Coverage floor for the sans-I/O protocol package (branch coverage).
PROTOCOL_COVERAGE := 95

RATE ?= 1000
PAIRS ?= 1000
PERSISTENCE ?= on
# python: bench/loadgen/generator.py; node: bench/loadgen/node (the same workload, needs node and npm)
GENERATOR ?= python

.PHONY: help run test lint format bench bench-load bench-full vectors clean

help:
	@echo "make run     start the hub on 127.0.0.1:8080 (embedded Valkey unless REDIS_URL is set)"
	@echo "make test    set up .venv, run ruff, mypy and the whole test suite"
	@echo "make lint    ruff and mypy only"
	@echo "make format  apply ruff's formatter and safe fixes"
	@echo "make bench   codec benchmark, then a short load run (needs 2 cores)"
	@echo "make bench-load RATE=1000 PAIRS=1000 [GENERATOR=node]  hub load test (needs 2 cores; see BENCHMARKS.md)"
	@echo "make bench-full  the load sweep: 7 rates x 3 runs (about 13 minutes)"
	@echo "make vectors regenerate protocol/vectors/*.json"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python $(PACKAGING)
	$(BIN)/python -m pip install --quiet -e 'protocol[dev]' -e clients/python -e '.[dev]'
	touch $(STAMP)

# Settings come from the environment (REDIS_URL, HEARTLINE_*) or from ARGS,
# e.g. `make run ARGS="--port 9000"`; `$(BIN)/heartline-hub --help` lists them.
run: $(STAMP)
	$(BIN)/heartline-hub $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest --cov --cov-report=term --cov-fail-under=$(PROTOCOL_COVERAGE)

bench: $(STAMP)
	$(BIN)/python bench/codec.py
	$(BIN)/python -m bench.loadgen.run --rate 1000 --pairs 1000 --warmup 2 --measure 5 --drain 5

bench-load: $(STAMP)
	$(BIN)/python -m bench.loadgen.run --rate $(RATE) --pairs $(PAIRS) --persistence $(PERSISTENCE) \
		--generator $(GENERATOR)

bench-full: $(STAMP)
	$(BIN)/python -m bench.loadgen.sweep --pairs $(PAIRS) --persistence $(PERSISTENCE) \
		--generator $(GENERATOR) --out sweep.jsonl

vectors: $(STAMP)
	$(BIN)/python protocol/vectors/generate.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage
