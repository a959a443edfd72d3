PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
# Every dependency, pinned with its hashes (make lock writes both files from pyproject.toml).
LOCK := requirements.lock
LOCK_TEST := requirements-test.lock
UV_VERSION := 0.13.9

.PHONY: run test lint format bench lock clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(STAMP_TEST)
	@touch $@

$(STAMP_TEST): $(LOCK_TEST) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK_TEST)
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(PY) -m bot

test: $(STAMP_TEST)
	$(PY) -m pytest

# Benchmark against the fakes on 127.0.0.1 (a few minutes). Options: make bench BENCH_ARGS="--help"
bench: $(STAMP_TEST)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP_TEST)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/hadolint Dockerfile

format: $(STAMP_TEST)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# After changing the dependencies in pyproject.toml: resolve again and pin (needs PyPI).
lock: | $(PY)
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
		--generate-hashes --quiet $(LOCK_ARGS) -o $(LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --quiet $(LOCK_ARGS) -o $(LOCK_TEST)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
