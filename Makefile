# One command per job. Every target installs what it needs into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
EXTRAS := dev,postgres,redis,servers,otlp,embeddings-int8

.PHONY: install browser demo test lint format typecheck pytest bench schema docs clean deploy-tools deploy-check install-size contract-tools

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Debian's Chromium for the console's browser tests (Playwright drives it; it never downloads
# a browser of its own). Installed with apt-get when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

demo: install
	$(BIN)/omnihub scenario

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

typecheck: install
	$(BIN)/mypy

pytest: install browser deploy-tools contract-tools
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

bench: install
	$(BIN)/omnihub bench events --backend sqlite --events 100000 --writers 4 --compare eventsourcing --json
	$(BIN)/omnihub bench events --backend postgres --events 100000 --writers 8 --compare eventsourcing --json
	$(BIN)/omnihub cache bench --entries 100000 --backend memory --json
	$(BIN)/omnihub cache bench --entries 100000 --backend redis --json
	$(BIN)/omnihub bench saga --goals 1000 --steps 3 --json
	$(BIN)/omnihub bench saga --goals 200 --steps 3 --rate 10 --no-recovery --json
	$(BIN)/omnihub bench planning --goals 300 --json

# checkov pins packaging<24 and networkx<3, which the project's own tools outgrew: it gets a
# venv of its own inside .venv (tests/deploy look for it there).
CHECKOV := $(VENV)/checkov/bin/checkov

deploy-tools: install $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet "checkov>=3.2"

# Generators that tests/contracts runs on the contracts (/openapi.json, schemas/): the npm
# tools in a local folder (never global), and openapi-python-client in a venv of its own (it
# pins typer below the project's); python-dateutil is what the client it generates imports.
NPM_TOOLS := .cache/npm-tools
OPENAPI_CLIENT := $(VENV)/openapi-python-client/bin/openapi-python-client

contract-tools: $(NPM_TOOLS)/node_modules/.bin/tsc $(OPENAPI_CLIENT)

$(NPM_TOOLS)/node_modules/.bin/tsc:
	mkdir -p $(NPM_TOOLS)
	npm install --prefix $(NPM_TOOLS) --no-audit --no-fund --no-save \
		openapi-typescript@7.13.0 json-schema-to-typescript@16.0.0 typescript@5.9.3

$(OPENAPI_CLIENT):
	$(PYTHON) -m venv $(VENV)/openapi-python-client
	$(VENV)/openapi-python-client/bin/python -m pip install --quiet \
		"openapi-python-client>=0.29" "python-dateutil>=2.8"

# Static checks of deploy/: hadolint, compose spec, Kubernetes schemas, HCL, checkov, and
# every OMNIHUB_* variable the artifacts set is a setting.
deploy-check: deploy-tools
	CHECKOV=$(CHECKOV) $(BIN)/pytest tests/deploy/test_artifacts.py -q -p no:cacheprovider

# Size and time of a fresh install: the wheel with no extras, then what `make install` installs.
install-size: install
	$(BIN)/python scripts/install_size.py
	$(BIN)/python scripts/install_size.py --editable --extras $(EXTRAS)

schema: install
	$(BIN)/omnihub schema export

# The README's configuration table, generated from the settings model (tests check it is current).
docs: install
	$(BIN)/omnihub config docs --readme README.md

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov
