# One command per task. Each target creates .venv and installs the package on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 8000
CODE   := $(wildcard services tests bench migrations)

.PHONY: run test lint format bench clean install assets

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/frontline migrate
	$(BIN)/frontline serve --dev --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The map page at / (web/ -> services/api/static, committed): only needed after changing web/.
assets:
	cd web && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
