# One command per task. Each target creates .venv and installs the package on first use: `make run`
# the package alone, the other targets with its dev and bench tools as well.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CKSUM  := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-$(CKSUM)
RUN_STAMP := $(VENV)/.installed-run-$(CKSUM)
EXTRAS := [dev,bench]
CODE   := $(wildcard services tests bench migrations deploy)

.PHONY: run test lint format bench clean install assets compose-smoke

# $(call venv_with,EXTRAS): a venv of Python >= 3.11 holding the package (editable) and EXTRAS.
define venv_with
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.$(1)'
endef

$(STAMP): pyproject.toml
	$(call venv_with,$(EXTRAS))
	rm -f $(VENV)/.installed-* && touch $@ $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	$(call venv_with,)
	rm -f $(VENV)/.installed-run-* && touch $@

install: $(STAMP)

# PORT (environment, `make run PORT=N`, or .env) is the port `frontline demo` talks to as well.
run: $(RUN_STAMP)
	$(BIN)/frontline migrate
	$(BIN)/frontline serve --dev --host 127.0.0.1 $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/mypy deploy/compose_smoke.py deploy/docker_host.py

format: $(STAMP)
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

# docker-compose.yml built and run end to end (README, "Deployment"); needs Docker, no venv.
compose-smoke:
	$(PYTHON) deploy/compose_smoke.py $(SMOKE_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The map page at / (web/ -> services/api/static, committed): only needed after changing web/.
assets:
	cd web && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
