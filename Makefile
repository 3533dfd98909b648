# Centralita — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE :=

.PHONY: run test test-fast faults fuzz lint typecheck bench lock messages migrations-check setup chromium clean \
        docker-check scaleout-test

setup:
	@scripts/bootstrap.sh
	@command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || { \
	  if [ "$$(id -u)" = "0" ]; then echo "installing Debian dovecot-imapd for the email tests (a real IMAP server)…"; \
	    (apt-get install -y -qq dovecot-imapd >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq dovecot-imapd >/dev/null)); \
	  else echo "dovecot-imapd is missing: install Debian's dovecot-imapd package (email tests need it)"; fi; }

run:
	@scripts/run.sh

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then echo "installing Debian chromium for browser tests…"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else echo "chromium is missing: install Debian's chromium package (browser tests need it)"; exit 1; fi; }

lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache

typecheck: setup
	.venv/bin/mypy .

migrations-check: setup
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

# Lint, types, migrations, then the whole suite (unit, integration, browser) on the configured database.
# Two pytest workers (pytest-xdist): each gets its own test database (config/settings_test.py).
PYTEST_WORKERS ?= 2
test: setup chromium lint typecheck migrations-check
	.venv/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Fault injection alone (also part of `make test`): real workers killed with SIGKILL mid-send and mid-import, the
# fake vendors down / slow / answering 5xx, PostgreSQL restarted under load, SQLite busy past its timeout, the
# supervisor restarting what died. Each ends asserting on the database: nothing lost, nothing doubled.
faults: setup
	.venv/bin/pytest -p no:randomly -m faults $(PYTEST_ARGS)

# The property-based fuzz tests (tests/fuzz: every API operation, the webhook intakes) searching harder than
# `make test` does: FUZZ_EXAMPLES examples per operation (default 200; `make test` runs 8). See docs/api.md.
fuzz: setup
	FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),200) .venv/bin/pytest -n $(PYTEST_WORKERS) tests/fuzz $(PYTEST_ARGS)

# The scale-mode guide proved on this machine (docs/deployment.md): 2 web, 2 workers, 1 scheduler, PostgreSQL and a
# Redis of its own; 100 Kommo add+status pairs, a worker killed with SIGKILL, Redis stopped for 20 s. Needs
# PostgreSQL on 127.0.0.1:5432 (SCALEOUT_DATABASE_URL to change it); .ci/run runs it in the PostgreSQL + Redis pass.
scaleout-test: setup
	$(PY) -m tests.scaleout.run $(SCALEOUT_ARGS)

# The container image built from deploy/Dockerfile and deploy/compose.yaml validated (skipped without Docker).
docker-check:
	@scripts/docker_check.sh

# The suite alone, for the edit-test loop.
test-fast: setup
	.venv/bin/pytest -x -q $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

lock:
	.tools/bin/uv pip compile -q --python-version 3.12 requirements.in -o requirements.txt
	.tools/bin/uv pip compile -q --python-version 3.12 requirements-dev.in -o requirements-dev.txt

messages: setup
	DEBUG=1 $(PY) manage.py makemessages -l es -l en --no-obsolete --ignore=.venv --ignore=.tools --ignore=node_modules
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv --ignore=.tools

clean:
	rm -rf .venv .tools data/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache
