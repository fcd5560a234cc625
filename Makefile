# Two commands on a fresh machine: `make run` and `make test`. Both create .venv, install the
# project and start embedded PostgreSQL, Redis and localstripe unless their URLs are set.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run manage test test-slow lint format install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m credits_portal.embedded run

# A management command against the services of a running `make run` (or, when none runs, the
# same embedded services started for it): make manage ARGS="grant_funds contoso 50"
manage: $(STAMP)
	$(BIN)/python -m credits_portal.embedded manage -- $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The replica router's tests need a second database (DATABASE_REPLICA_URL): a pytest of their own,
# so that the rest of the suite does not create and migrate one.
REPLICA_TESTS := tests/credits_portal/test_db_router.py

# `make test` leaves out the suites marked `slow` (the exhaustive hostile sweeps and the visual
# walk of every page, about five minutes) so that it stays under fifteen minutes on two cores;
# `make test-slow` runs just those, and CI (.ci/run) runs both.
test: lint
	$(BIN)/python -m credits_portal.embedded test -- $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)
	$(BIN)/python -m credits_portal.embedded test --replica -- $(BIN)/pytest $(REPLICA_TESTS)

test-slow: $(STAMP)
	$(BIN)/python -m credits_portal.embedded test -- $(BIN)/pytest -m slow $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .data/test
