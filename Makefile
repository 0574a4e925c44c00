# One entry point for people and CI.
#   make run    install into .venv and open the tutorial notebooks in JupyterLab
#   make sim    install into .venv and start the simulated robot on 127.0.0.1:31950
#   make test   install what the tests need (Debian's Chromium included) and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: run sim test test-compat install install-test system-deps lint bench clean

# Other supported Pythons (pyenv's, or on PATH) for `make test-compat`.
COMPAT_PYTHONS ?= $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python $(HOME)/.pyenv/versions/3.12*/bin/python)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e ".[lab]"

install-test: $(BIN)/python
	$(PIP) install --quiet -e ".[test]"

sim: install
	$(BIN)/ot2-sim

# as root (containers, CI machines) JupyterLab needs --allow-root; the PyPI extension manager
# of JupyterLab 4.1 fails with current httpx, and the tutorials need no extensions from it
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,) --LabApp.extension_manager=readonly

run: install
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks/

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	  else \
	    echo "The browser test needs Debian's Chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

lint: install-test
	$(BIN)/ruff check .

test: system-deps install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The opentrons shims on every supported Python: module protocols at API 2.13, custom labware.
test-compat:
	@test -n "$(strip $(COMPAT_PYTHONS))" || { echo "test-compat: no Python 3.10/3.12 found (set COMPAT_PYTHONS)"; exit 1; }
	@set -e; for py in $(COMPAT_PYTHONS); do \
	  ver=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  echo "== Python $$ver ($$py)"; \
	  [ -x .venv-$$ver/bin/python ] || $$py -m venv .venv-$$ver; \
	  .venv-$$ver/bin/python -m pip install --quiet --upgrade pip; \
	  .venv-$$ver/bin/python -m pip install --quiet -e ".[sim]" pytest pytest-timeout psutil websocket-client; \
	  .venv-$$ver/bin/python -m pytest -q -p no:cacheprovider -o addopts=-ra tests/test_sim_analysis.py \
	    -k "module_protocols or custom_labware or engine_level or syntax_error or exception_in_run"; \
	done

bench: install-test
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .venv-3.* build *.egg-info .pytest_cache test-artifacts
