# Every target creates or refreshes .venv by itself: on a fresh machine with Python ≥ 3.11 and make,
# `make demo` and `make test` are the whole set-up. What gets installed is exactly requirements.lock (every
# package of the dependency tree pinned, with its hashes), so a fresh clone next month installs what CI tested
# today; `make lock` refreshes the lock after a change to pyproject.toml (`make lock LOCK_ARGS=--upgrade` also
# takes newer releases), and the generated wire code must then be regenerated with the locked generator
# (`make proto`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements.lock
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test lint bench proto lock clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sunshine demo $(DEMO_ARGS)

test: $(STAMP)
	@bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench all $(BENCH_ARGS)

proto: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

# uv alone, from the lock (so `make lock` works while pyproject.toml asks for what the lock does not hold yet)
$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import re, sys; lock = open('$(LOCK)', encoding='utf-8').read(); \
	    sys.stdout.write(re.search(r'^uv==.*?(?=^\S|\Z)', lock, re.S | re.M).group(0))" > $(VENV)/uv-lock.txt
	$(PIP) install --quiet --require-hashes --no-deps -r $(VENV)/uv-lock.txt

lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml requirements/tools.in --extra dev --universal --python-version 3.11 \
	    --generate-hashes --custom-compile-command "make lock" --quiet -o $(LOCK) $(LOCK_ARGS)

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
