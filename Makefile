# The two commands: `make run` (set up, then serve on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run install test lint typecheck docs bench catalog clean

run: install
	$(BIN)/actlab serve

install: $(VENV)/.installed

# torch is pinned to the CPU build first so nothing pulls a multi-GB CUDA build on a laptop.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $@

# eslint for the dashboard's ES modules, from the npm registry at the versions package-lock.json
# pins (Node.js and npm: .ci/run installs them where missing).
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

lint: install node_modules/.installed
	node_modules/.bin/eslint api/ui/js
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/vulture activations api core worker cli bench clients/python/actlab --min-confidence 80

typecheck: install
	$(BIN)/mypy

# Two test processes (pytest-xdist): most of the suite waits on service processes, so two
# share the 2 cores of a small CI machine; each test has its own database and queue names.
TEST_WORKERS ?= 2

# The documentation site, built with warnings as errors into a scratch directory.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

test: lint typecheck docs
	$(BIN)/pytest -n $(TEST_WORKERS)

# Every CPU benchmark, one after another (never two at once: they compare timings), then
# their sections of bench/BENCHMARKS.md rewritten from bench/results/. The dashboards, load
# and end-to-end benchmarks need PostgreSQL and Redis (127.0.0.1 by default; see --help).
bench: install
	$(BIN)/python -m bench.activations
	$(BIN)/python -m bench.formula
	$(BIN)/python -m bench.trainer
	$(BIN)/python -m bench.transformer
	$(BIN)/python -m bench.bookkeeping
	$(BIN)/python -m bench.first_run
	$(BIN)/python -m bench.submit
	$(BIN)/python -m bench.seeds --repeats 3
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.relu_tanh --model mnist1d_cnn --dataset mnist1d --epochs 60
	$(BIN)/python -m bench.relu_tanh --model lenet5 --dataset digits --epochs 30
	$(BIN)/python -m bench.glu_variants --seeds 5 --epochs 8
	$(BIN)/python -m bench.grokking --seeds 3 --epochs 200
	$(BIN)/python -m bench.grokking --seeds 3 --epochs 200 --recipe power
	$(BIN)/python -m bench.kan
	$(BIN)/python -m bench.kan_fair --seeds 5
	$(BIN)/python -m bench.adaptive --races 2000
	$(BIN)/python -m bench.adaptive --races 2000 --beta 0.05
	$(BIN)/python -m bench.race
	$(BIN)/python -m bench.tuning --seeds 10 --trials 8
	$(BIN)/python -m bench.dashboards
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.hostile
	$(BIN)/python -m bench.report

catalog: install
	$(BIN)/actlab catalog --write

clean:
	rm -rf $(VENV) node_modules actlab-data .pytest_cache .mypy_cache .ruff_cache *.egg-info
