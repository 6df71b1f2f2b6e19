# SIMASN Jatim — the two commands a new user needs: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv servicemap test lint up down status logs migrate bench bench-eventstore bench-gateway bench-import bench-requests bench-checkpoints bench-signing bench-sync bench-reporting bench-monev bench-backup drill bench-scaling bench-soak bench-chaos chaos

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

servicemap: venv
	$(BIN)/python scripts/servicemap.py

lint: venv
	$(BIN)/ruff check .

# The browser tests (marker `browser`, tests/e2e/browser.py) run in a pytest process of their own
# without eventlet's monkey patching, under which Playwright's sync API hangs, beside the rest
# of the suite (scripts/test.sh).
test: venv
	scripts/infra.sh ensure
	scripts/infra.sh browser
	scripts/infra.sh softhsm
	$(BIN)/ruff check .
	scripts/test.sh

migrate: venv
	scripts/infra.sh ensure
	$(BIN)/simasn migrate

bench-eventstore: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/eventstore.py

bench-gateway: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/gateway.py

bench-import: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/records_import.py

bench-requests: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/requests_workflow.py
	$(BIN)/python bench/requests_e2e.py --profile

bench-checkpoints: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/checkpoints.py

bench-signing: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/signing.py

bench-sync: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/sync_stream.py
	$(BIN)/python bench/sync_snapshot.py

bench-reporting: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/reporting.py
	$(BIN)/python bench/reporting_export.py

bench-monev: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/monev.py

bench-backup: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/backup.py

# The restore drill (docs/operations.md §8): seed through the real services, `simasn backup`,
# `simasn restore` into a fresh database and stores, compare heads, documents, read models and
# the witness; and the refusals (tampered file, missing document, non-empty target, S3).
drill: venv
	scripts/infra.sh ensure
	$(BIN)/pytest tests/test_backup_drill.py -q

bench: bench-eventstore bench-gateway bench-import bench-requests bench-checkpoints bench-signing bench-sync bench-reporting bench-monev bench-backup

# The deployed stack (scripts/stack.sh) under load: one replica against three of records,
# requests and sync (bench/results/scaling.md); a mixed load over the gateway for MINUTES
# (default 10; bench/results/soak.md). Not part of `make bench`: each takes minutes.
bench-scaling: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/scaling.py

MINUTES ?= 10
# TRACE=reporting[,records]: those services run with the memory trace (shared/memtrace.py);
# TRACE_FRAMES=0 keeps it to counters, without tracemalloc
TRACE ?=
TRACE_FRAMES ?= 12
bench-soak: venv
	scripts/infra.sh ensure
	$(BIN)/python bench/soak.py --minutes $(MINUTES) --trace "$(TRACE)" --trace-frames $(TRACE_FRAMES)

# The kill loop (bench/chaos.py, issue 18): the journeys over the gateway while every process is
# SIGKILLed (24 kills) and the stack's own RabbitMQ (once) and PostgreSQL (twice, the second as
# a crash) are restarted; about fifteen minutes; figures in bench/results/chaos.md. Its short form runs in the suite
# (tests/test_chaos.py). Not part of `make bench`: it measures recovery, not speed.
bench-chaos: venv
	$(BIN)/python bench/chaos.py

chaos: bench-chaos


# The whole stack on this machine (scripts/stack.sh): `make up`, `make status`, `make logs`
# (`make logs S=records` for one process), `make down`.
up: venv
	scripts/stack.sh up

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

logs:
	scripts/stack.sh logs $(S)
