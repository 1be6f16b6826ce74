# The two set-up commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
CONFIG ?= configs/quickstart.yaml
TEST_STAMP := $(VENV)/.installed-test-$(shell cat requirements-test.lock | sha1sum | cut -c1-12)

.PHONY: install run test test-fast lint bench clean lock

# From the lock file: the exact versions the tests ran on (pyproject.toml keeps compatible ranges for
# users who `pip install emergent` into an environment of their own).
$(STAMP): pyproject.toml requirements.lock
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: on CPU-only machines this takes the local CPU wheel, on GPU machines the CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# DeepSpeed (in the lock) builds from source against the torch above (an isolated build would fetch
	# another torch); CPU runs use its gloo backend, so the 2-process ZeRO tests run here too.
	$(BIN)/pip install -q setuptools wheel
	$(BIN)/pip install -q --no-deps --no-build-isolation -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Test-only packages (the judge's real-server test); `make run` does not need them.
$(TEST_STAMP): $(STAMP) requirements-test.lock
	CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" $(BIN)/pip install -q --no-deps -r requirements-test.lock
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/emergent run $(CONFIG)

test: $(TEST_STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

test-fast: $(TEST_STAMP)
	$(BIN)/pytest -q -m "not slow" tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Rewrite requirements.lock from the current environment (after changing dependencies and testing).
lock: $(STAMP)
	{ echo "# The exact environment the tests run on (make installs it with --no-deps; pyproject.toml holds the ranges)."; \
	  echo "# Regenerate after changing dependencies: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' | grep -v '^emergent' \
	  | grep -v -i -E "^($$(grep -v '^#' requirements-test.lock | cut -d= -f1 | paste -sd'|'))( @|==)"; } > requirements.lock

clean:
	rm -rf $(VENV) runs .pytest_cache
