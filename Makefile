# neurodsr: `make install` builds .venv; `make test` and `make demo` build it when needed, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml envs/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c envs/constraints.txt -e ".[dev]"
	touch $(STAMP)

# The whole suite, slow end-to-end tests included (this is what .ci/run runs).
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

# Everything but the slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# Demo: fit a sparsely forced shPLRNN to a generated Lorenz-63 series and score it.
demo: $(STAMP)
	mkdir -p results/demo
	$(BIN)/python -m neurodsr.dynamics.systems lorenz63 --n-steps 30000 --dt 0.01 --seed 1 \
		--noise 0.01 --out results/demo/lorenz63.npy
	$(BIN)/neurodsr fit results/demo/lorenz63.npy --dt 0.01 --tau 77 --epochs 400 \
		--seeds 2 --max-minutes 5 --out results/demo/fit.nc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/lorenz_fit.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
