# One entry point for people and CI.
#   make run    install into .venv and open the tutorial notebooks in JupyterLab
#   make sim    install into .venv and start the simulated robot on 127.0.0.1:31950
#   make test   install what the tests need (Debian's Chromium included) and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: run sim test install install-test system-deps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e ".[lab]"

install-test: $(BIN)/python
	$(PIP) install --quiet -e ".[test]"

sim: install
	$(BIN)/ot2-sim

run: install
	$(BIN)/jupyter lab notebooks/

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	  else \
	    echo "The browser test needs Debian's Chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

lint: install-test
	$(BIN)/ruff check ot2_notebook tests benchmarks

test: system-deps install-test
	$(BIN)/ruff check ot2_notebook tests benchmarks
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
