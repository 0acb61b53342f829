# neurodsr: `make install` builds .venv; `make test` and `make demo` build it when needed, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml envs/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c envs/constraints.txt -e ".[dev]"
	@# the compiled PL time loop, built once into .venv (without a compiler: a notice, the
	@# torch loop runs)
	$(BIN)/python -c "from neurodsr.models.fused import compiled_loop; compiled_loop(report=True)"
	touch $(STAMP)

# The whole suite, slow end-to-end tests included (this is what .ci/run runs).
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/pytest -q

# Everything but the slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not long"

# Demo: the Snakemake workflow over the bundled demo sessions (config.yaml): generates three
# recordings in lab formats under resources/demo/, reconstructs each, writes results/index.html.
demo: $(STAMP)
	$(BIN)/snakemake --cores 8

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow

# Format everything the lint checks.
format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/snakefmt Snakefile workflow

bench: $(STAMP)
	$(BIN)/python benchmarks/lorenz_fit.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
