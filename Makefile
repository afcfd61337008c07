# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`.
# Installs come only from the hashed locks (see README, "Dependencies and locks"):
#   requirements.lock      runtime only: `make run` (.venv-run) and the Docker image
#   requirements-dev.lock  runtime + test, lint, bench and lock tools: `make test`, `make bench` (.venv)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_VENV := .venv-run
RUN_STAMP := $(RUN_VENV)/.installed
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# pip itself, pinned and hashed: the pip that `python -m venv` bundles (23.2 on Python 3.11.7) wrongly
# refuses hashed locks whose packages ask for an extra (pip-audit's CacheControl[filecache]).
PIP_LOCK := requirements-pip.lock
HOST ?= 127.0.0.1
PORT ?= 8000
LOCALES := sdm_service/locale

.PHONY: run test lint typecheck audit pytest bench lock sample-pdf clean messages

define check_python
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed (found %s)" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
endef

# Development environment: the dev lock (which pins the runtime set at the same versions), then the
# project itself, editable, without resolving anything further.
$(STAMP): pyproject.toml $(DEV_LOCK) $(PIP_LOCK) package-lock.json
	$(check_python)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(PIP_LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/pybabel compile -d $(LOCALES) -D messages  # interface catalogs (.mo, not committed)
	# axe-core for the browser accessibility tests; Medplum's FHIR router and oidc-provider for the
	# write-back tests (all pinned in package-lock.json)
	if command -v npm >/dev/null 2>&1 && [ -f package-lock.json ]; then npm ci --silent; fi
	touch $(STAMP)

# Runtime environment for `make run`: only what production installs (rebuilt whole when the lock changes,
# so nothing outside the lock lingers). Editable, so a restart picks up code and content edits.
$(RUN_STAMP): pyproject.toml $(LOCK) $(PIP_LOCK)
	$(check_python)
	rm -rf $(RUN_VENV) && $(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/python -m pip install --quiet --require-hashes -r $(PIP_LOCK)
	$(RUN_VENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(RUN_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(RUN_VENV)/bin/pybabel compile -d $(LOCALES) -D messages
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(RUN_VENV)/bin/sdm db upgrade
	$(RUN_VENV)/bin/sdm run --host $(HOST) --port $(PORT) --with-worker

lint: $(STAMP)
	$(BIN)/ruff check sdm_service migrations tests bench setup.py
	$(BIN)/ruff format --check sdm_service migrations tests bench setup.py

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

# Re-resolve both locks after changing dependencies in pyproject.toml (never edit them by hand).
# Pins already in the locks are kept where pyproject still allows them; `make lock LOCK_ARGS=--upgrade`
# moves everything to the newest allowed release. The runtime lock is resolved first and constrains
# the dev lock, so tests run on exactly the versions production installs. Both target CPython 3.11 on
# Linux x86_64 (the image and this machine), whatever machine runs `make lock`.
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
lock: $(STAMP)
	echo 'pip>=25.1' | $(BIN)/uv pip compile - $(LOCK_FLAGS) -o $(PIP_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra redis $(LOCK_FLAGS) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --constraint $(LOCK) $(LOCK_FLAGS) -o $(DEV_LOCK)

# Interface text: extract messages.pot from the templates and Python (babel.cfg), update every
# language's .po (translate the new entries), compile them for this checkout.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k AnswerError --no-location --sort-output \
		--project sdm-service --copyright-holder sdm-service -o $(LOCALES)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages --width 100 --no-fuzzy-matching
	$(BIN)/pybabel compile -d $(LOCALES) -D messages --statistics

clean:
	rm -rf $(VENV) $(RUN_VENV) .mypy_cache .ruff_cache .pytest_cache build dist
