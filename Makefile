# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench db-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Development defaults for `make run`; each can be overridden from the environment.
RUN_ENV := DEBUG=$${DEBUG:-1} CHM_BASE_URL=$${CHM_BASE_URL:-http://$(HOST):$(PORT)}

run: $(STAMP)
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	@# The demo data set, once: skipped when this database already holds it (docs/synthetic-data.md).
	$(RUN_ENV) $(VENV)/bin/chm-synthetic-orchestrator --ingest
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	@# Last before serving, so the login is the first thing to read above the server's log.
	$(RUN_ENV) $(PY) manage.py ensure_admin
	@echo "Serving CHM on http://$(HOST):$(PORT)/ (admin: http://$(HOST):$(PORT)/admin/)"
	$(RUN_ENV) $(VENV)/bin/gunicorn chm_project.wsgi --bind $(HOST):$(PORT) --workers 2 --access-logfile -

test: lint
	$(VENV)/bin/pytest

# ruff, then the import-linter contracts of pyproject.toml (the apps' layers).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks are runnable scripts under bench/ (helpers there start with "_"); each prints
# its figures as ratios against a floor it measures in the same run.
bench: $(STAMP)
	@set -e; for script in bench/[a-z]*.py; do echo "== $$script"; $(PY) $$script; done

db-stop: $(STAMP)
	$(PY) -c "from pathlib import Path; from chm_project.embedded_db import stop_embedded_server as s; print('stopped' if s(Path('var')) else 'not running')"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info

# The README's screenshots (docs/img/), taken by the browser check on the demo data set.
.PHONY: screenshots
screenshots: $(STAMP)
	CHM_BROWSER_DEMO_DATA=1 CHM_SCREENSHOT_DIR=docs/img $(VENV)/bin/pytest tests/browser -q
