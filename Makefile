# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck audit pytest bench lock sample-pdf clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	# axe-core for the browser accessibility tests (pinned in package-lock.json)
	if command -v npm >/dev/null 2>&1 && [ -f package-lock.json ]; then npm ci --silent; fi
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sdm db upgrade
	$(BIN)/sdm run --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check sdm_service migrations tests bench
	$(BIN)/ruff format --check sdm_service migrations tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# Known vulnerabilities in the pinned versions (pip-audit, PyPI advisories); see .ci/audit.py for why
# an unreachable service fails CI (SDM_REQUIRE_AUDIT=1) but only warns on an offline laptop.
audit: $(STAMP)
	$(BIN)/python .ci/audit.py

test: lint typecheck audit pytest

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

sample-pdf: $(STAMP)
	$(BIN)/sdm sample-pdf --out var/sample-summary.pdf

# Re-resolve the pinned versions after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/sdm-lock-venv && $(PYTHON) -m venv /tmp/sdm-lock-venv
	/tmp/sdm-lock-venv/bin/pip install --quiet '.[dev]'
	/tmp/sdm-lock-venv/bin/pip freeze --exclude sdm-service > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
