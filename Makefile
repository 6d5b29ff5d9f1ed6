# The two quick-start commands (see README.md): `make serve` and `make test`.
# Each sets itself up from a fresh clone: virtualenv, pinned requirements, migrations.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
# Where `make test` looks for PostgreSQL when DATABASE_URL is unset.
LEDGER_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: install install-bench serve test test-unit test-old-schemas lint openapi

# Stamps: the runtime set (requirements.txt), the dev set on top of it, the bench set.
$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(BIN)/.bench: $(BIN)/.runtime requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

install: $(BIN)/.dev

install-bench: $(BIN)/.bench

serve: $(BIN)/.runtime
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --verbosity 0
	DJANGO_DEBUG=1 $(BIN)/python manage.py create_signing_key --if-missing > /dev/null
	DJANGO_DEBUG=1 $(BIN)/python manage.py load_demo --credentials
	@echo "Serving on http://$(HOST)/  admin: http://$(HOST)/admin/  API docs: http://$(HOST)/api/v1/docs"
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST)

# With DATABASE_URL set: one run on that database. Unset: SQLite, then PostgreSQL if it answers.
# Tests run in a random order (pytest-randomly prints its seed; -p no:randomly turns it off).
test: $(BIN)/.dev
ifdef DATABASE_URL
	$(BIN)/python -m pytest $(PYTEST_ARGS)
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(LEDGER_TEST_POSTGRES_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		echo "--- the same suite on PostgreSQL ($(LEDGER_TEST_POSTGRES_URL)) ---"; \
		DATABASE_URL=$(LEDGER_TEST_POSTGRES_URL) $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		echo "PostgreSQL does not answer at $(LEDGER_TEST_POSTGRES_URL): its run (concurrency tests included) was skipped"; \
	fi
endif

# The unit tier: the domain's decide functions and the values, with no database (the URL
# below answers nowhere, and tests/unit/conftest.py refuses a test that asks for one).
test-unit: $(BIN)/.dev
	DATABASE_URL=postgresql://nobody@127.0.0.1:9/none $(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The API and admin tests on a ledger whose registrations, allocations and limit changes
# are all stored by an older schema (tests/old_schemas.py): every read must upcast them.
test-old-schemas: $(BIN)/.dev
	LEDGER_TEST_OLD_SCHEMAS=1 $(BIN)/python -m pytest tests/api tests/admin tests/integration/test_old_schemas.py $(PYTEST_ARGS)

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Rewrites docs/openapi.json from the served document: review its diff like code.
openapi: $(BIN)/.runtime
	$(BIN)/python manage.py openapi
