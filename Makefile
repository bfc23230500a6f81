# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test stop lint typecheck bench install browser clean stack-local stack-stop test-stack

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH, or run: make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	# the build leaves package metadata in include/, which is on sys.path: Airflow would see the package twice
	# (and its plugin as registered twice); the installed metadata lives in the venv
	rm -rf include/*.egg-info
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dags include plugins tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser download is not used).
# Installing it needs root (as in CI) or a Chromium already on PATH.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium)

test: lint typecheck browser
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/mlops demo up

stop:
	@if [ -x $(BIN)/mlops ]; then $(BIN)/mlops demo down; fi

# The compose stack's topology without containers (docs/stack-local.md): PostgreSQL and Redis from the system's
# packages (installed by the first `make stack-local` when missing; needs root or the packages already there),
# MLflow with basic auth and Airflow on the CeleryExecutor with WORKERS workers, under .stack/ on loopback ports.
WORKERS ?= 2
stack-local: $(STAMP)
	$(BIN)/mlops stack up --local --workers $(WORKERS)

stack-stop:
	@if [ -x $(BIN)/mlops ]; then $(BIN)/mlops stack down; fi

# Brings the local stack up in a folder of its own, runs mlops_training through its scheduler and two workers
test-stack: $(STAMP)
	$(BIN)/pytest -m stack tests/stack

bench: $(STAMP)
	$(BIN)/python bench/parse_time.py
	$(BIN)/python bench/drift.py --rows 200000
	$(BIN)/python bench/validation.py --rows 200000
	$(BIN)/python bench/performance.py --rows 200000

clean: stop
	rm -rf .demo
