# SkipBench: `make demo` and `make test` work on a fresh machine (see README).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_MODEL ?= smollm2-135m-instruct
DEMO_WINDOWS ?= 8
DEMO_CALIB ?= 32

.PHONY: setup demo test test-fast lint format typecheck leaderboard leaderboard-demo clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch from local disk first, so nothing pulls a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## dense vs ShortGPT (20%) on WikiText-2 perplexity, stored in SQLite, leaderboard table
	$(BIN)/skipbench models fetch $(DEMO_MODEL)
	$(BIN)/skipbench run --model $(DEMO_MODEL) --method dense --suite perplexity --task wikitext2 --limit $(DEMO_WINDOWS)
	$(BIN)/skipbench run --model $(DEMO_MODEL) --method shortgpt --sparsity 0.2 --set calib_samples=$(DEMO_CALIB) \
		--suite perplexity --task wikitext2 --limit $(DEMO_WINDOWS)
	$(BIN)/skipbench results --latest --model $(DEMO_MODEL)

test: setup  ## the whole test suite (real PostgreSQL/Redis where reachable, SmolLM2 on CPU)
	$(BIN)/python -m pytest -q

test-fast: setup  ## skip the real-model tests
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy db workers leaderboard

leaderboard: setup
	$(BIN)/skipbench leaderboard

leaderboard-demo: setup  ## the committed real results (results/) and the papers' reported numbers
	$(BIN)/skipbench leaderboard --demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
