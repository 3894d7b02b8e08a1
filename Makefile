# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_PLUGINS := $(VENV)/test-plugins
BUF := .tools/node_modules/.bin/buf
# The contract as published; `buf breaking` keeps every change to proto/ wire- and source-compatible with it.
PROTO_BASELINE := proto-baseline/cashier-v1.binpb

.PHONY: demo test lint proto proto-baseline bench serve clean

$(STAMP): pyproject.toml tests/plugins/cashier_test_channels/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# The test-only channel plugin goes beside, not into, the environment: only the tests see it.
	rm -rf $(TEST_PLUGINS)
	$(BIN)/python -m pip install -q --no-deps --target $(TEST_PLUGINS) ./tests/plugins/cashier_test_channels
	touch $(STAMP)

$(BUF): .tools/package.json .tools/package-lock.json
	cd .tools && npm ci --no-audit --no-fund --loglevel=error
	touch $(BUF)

demo: $(STAMP)
	$(BIN)/cashier demo $(DEMO_ARGS)

# Tests run in one process per core (pytest-xdist): each test has its own database and port-0 servers.
TEST_WORKERS ?= auto
test: $(STAMP) $(BUF)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP) $(BUF)
	$(BUF) lint
	$(BUF) breaking --against $(PROTO_BASELINE)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

proto: $(STAMP)
	$(BIN)/python scripts/protogen.py

# Run when a release publishes the contract: later changes are checked against this one.
proto-baseline: $(BUF)
	$(BUF) build -o $(PROTO_BASELINE)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

serve: $(STAMP)
	$(BIN)/cashier serve

clean:
	rm -rf $(VENV) .tools/node_modules var .pytest_cache .mypy_cache
