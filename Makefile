# One entry point for people and CI. Two environments (README, "Dependencies"):
#   .venv       the notebooks' side: the newest Python here (3.13 under pyenv, else python3) with
#               ot2-notebook and the newest JupyterLab and Notebook (`lab`), or what the tests
#               need (`test`);
#   .venv-sim   the simulated robot's side: Python 3.11 with ot2-notebook[sim] (opentrons 8).
# Every target below exports OT2_SIM_PYTHON=.venv-sim/bin/python, so notebooks, tests and
# benchmarks start the simulator from there (and never set one up in the user's cache).
#
#   make run            the tutorial notebooks in the newest JupyterLab
#   make sim            only the simulated robot, on 127.0.0.1:31950
#   make test           lint, then every test (browser test on JupyterLab 4 and Notebook 7)
#   make test-compat    the kernel side on Python 3.10; the opentrons shims on other sim envs
#   make test-user-env  install the project into a fresh "user" Jupyter environment, run a notebook
#   make bench          the benchmarks, in the simulator's environment (they compare it with opentrons)
#   make lint / clean
SHELL := /bin/bash

newest = $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python)))
# pyenv's (or PATH's) Python for version $(1), e.g. $(call python_for,3.10)
python_for = $(or $(call newest,$(1)),$(shell command -v python$(1)))

KERNEL_PYTHON ?= $(or $(call python_for,3.13),$(shell command -v python3))
SIM_BASE_PYTHON ?= $(call python_for,3.11)
#: the opentrons requirement of a simulator environment (.venv-sim, and test-compat's)
OPENTRONS ?= opentrons>=8,<9
#: the extras of .venv-sim (a variable: a comma inside $(call ...) would split its arguments)
SIM_EXTRAS := sim,dask

VENV ?= .venv
SIM_VENV ?= .venv-sim
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export OT2_SIM_PYTHON := $(abspath $(SIM_VENV))/bin/python
# uv, where used below, runs on the interpreters named here and never downloads one
export UV_PYTHON_DOWNLOADS := never

# $(call make_env,ENV,PYTHON,REQUIREMENTS): a virtual environment with REQUIREMENTS, built with
# .venv's uv when it has one (much faster), else with venv and pip. Both leave the packages'
# bytecode compiled, as pip does by default (uv only when asked): where PYTHONDONTWRITEBYTECODE
# is set (this machine and CI set it), Python never writes it itself, and every process would
# compile what it imports anew: importing opentrons took 3.6 s of CPU instead of 1.9 s, in
# each of the ~190 simulators and forkservers a `make test` starts (2026-12-04).
make_env = if [ -z "$(NO_UV)" ] && [ -x $(BIN)/uv ]; then \
	  { [ -x "$(1)/bin/python" ] || $(BIN)/uv venv --quiet --python "$(2)" "$(1)"; } && \
	  $(BIN)/uv pip install --quiet --compile-bytecode --python "$(1)/bin/python" $(3); \
	else \
	  { [ -x "$(1)/bin/python" ] || "$(2)" -m venv "$(1)"; } && \
	  "$(1)/bin/python" -m pip install --quiet --upgrade pip && \
	  "$(1)/bin/python" -m pip install --quiet $(3); \
	fi

.PHONY: run sim test test-compat test-user-env install install-test install-sim system-deps \
	lint bench clean

# -- environments (rebuilt when pyproject.toml changes) --------------------------------------------
# .venv gets uv first (from PyPI, with pip): it installs everything else in a fraction of
# pip's time. NO_UV=1 builds every environment with venv and pip alone.
$(BIN)/python:
	@test -n "$(KERNEL_PYTHON)" || { echo "no Python 3 found (set KERNEL_PYTHON)" >&2; exit 1; }
	$(KERNEL_PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip $(if $(NO_UV),,uv)

$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	$(call make_env,$(VENV),$(KERNEL_PYTHON),-e ".[lab]")
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(call make_env,$(VENV),$(KERNEL_PYTHON),-e ".[test]")
	@touch $@

$(SIM_VENV)/.installed: pyproject.toml
	@test -n "$(SIM_BASE_PYTHON)" || { echo "no Python 3.11 found (set SIM_BASE_PYTHON)" >&2; exit 1; }
	$(call make_env,$(SIM_VENV),$(SIM_BASE_PYTHON),-e ".[$(SIM_EXTRAS)]" "$(OPENTRONS)")
	@touch $@

install: $(VENV)/.installed-lab install-sim
install-test: $(VENV)/.installed-test install-sim
install-sim: $(SIM_VENV)/.installed

# -- using them -------------------------------------------------------------------------------------
# as root (containers, CI machines) JupyterLab needs --allow-root; LAB_ARGS adds options
# (e.g. LAB_ARGS="--no-browser --ServerApp.port=8899")
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=

run: install
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS) notebooks/

SIM_ARGS ?=
sim: install-sim
	$(SIM_VENV)/bin/ot2-sim $(SIM_ARGS)

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	  else \
	    echo "The browser test needs Debian's Chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

# Every check runs; the target fails at the end if any failed (and says which).
lint: $(VENV)/.installed-test
	@failed=""; \
	$(BIN)/ruff check . || failed="$$failed ruff-check"; \
	$(BIN)/ruff format --check . || failed="$$failed ruff-format"; \
	$(BIN)/mypy || failed="$$failed mypy"; \
	$(BIN)/lint-imports || failed="$$failed lint-imports"; \
	if [ -n "$$failed" ]; then echo "lint: failed:$$failed" >&2; exit 1; fi

# The tests run in PYTEST_WORKERS processes (pytest-xdist), each test file whole in one of
# them (--dist loadfile: a notebook's cells, a module's simulator). Much of the suite's wall
# clock is waiting (paced runs, timeouts, kernels, browsers): on a 2-core machine 2 workers
# halve it (1,175 -> 637 s, 2026-12-04) and a third takes a little more off (583 s).
# PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

# lint, then pytest (pytest runs even when lint fails; the target fails if either did)
test: system-deps install-test
	@lint=0; $(MAKE) --no-print-directory lint || lint=1; \
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS) && exit $$lint

# The kernel side (client, magics, widgets, feed, finding and setting up the simulator) on
# Python 3.10, against .venv-sim; and the opentrons shims (module protocols at API 2.13,
# custom labware) on simulator environments of each COMPAT_SIM_PYTHONS with each of
# COMPAT_OPENTRONS (the lowest and the newest opentrons 8).
COMPAT_KERNEL_PYTHONS ?= 3.10
COMPAT_SIM_PYTHONS ?= 3.10 3.12
COMPAT_OPENTRONS ?= opentrons==8.0.0 opentrons>=8.8,<9
KERNEL_TESTS := tests/test_client_*.py tests/test_magics_*.py tests/test_widgets_*.py tests/test_notifications.py \
	tests/test_sim_environment.py
SHIM_TESTS := tests/test_sim_analysis.py -k "module_protocols or custom_labware or engine_level or syntax_error or exception_in_run"
PYTEST_COMPAT := -q -p no:cacheprovider -o addopts="-ra --strict-markers"

# Every combination runs; the target fails at the end if any failed (and says which).
test-compat: install-test
	@failed=""; \
	for ver in $(COMPAT_KERNEL_PYTHONS); do \
	  py="$$(ls -d $(HOME)/.pyenv/versions/$$ver.*/bin/python 2>/dev/null | sort -V | tail -n 1)"; \
	  py="$${py:-$$(command -v python$$ver || true)}"; \
	  test -n "$$py" || { echo "test-compat: no Python $$ver found" >&2; failed="$$failed kernel-$$ver"; continue; }; \
	  env=.venv-$$ver; echo "== kernel side on Python $$ver ($$py), simulator $(OT2_SIM_PYTHON)"; \
	  [ $$env/.installed-test -nt pyproject.toml ] || { \
	    $(call make_env,$$env,$$py,-e ".[test]") && touch $$env/.installed-test; }; \
	  $$env/bin/python -m pytest $(PYTEST_COMPAT) $(PYTEST_PARALLEL) $(KERNEL_TESTS) || failed="$$failed kernel-$$ver"; \
	done; \
	for ver in $(COMPAT_SIM_PYTHONS); do for spec in $(foreach s,$(COMPAT_OPENTRONS),'$(s)'); do \
	  py="$$(ls -d $(HOME)/.pyenv/versions/$$ver.*/bin/python 2>/dev/null | sort -V | tail -n 1)"; \
	  py="$${py:-$$(command -v python$$ver || true)}"; \
	  env=".venv-sim-$$ver-$$(printf %s "$$spec" | tr -c 'A-Za-z0-9.' '_')"; \
	  test -n "$$py" || { echo "test-compat: no Python $$ver found" >&2; failed="$$failed $$env"; continue; }; \
	  [ $$env/.installed -nt pyproject.toml ] || { \
	    $(call make_env,$$env,$$py,-e ".[sim]" "$$spec") && touch $$env/.installed; } \
	    || { failed="$$failed $$env(install)"; continue; }; \
	  echo "== opentrons shims: Python $$ver, $$($$env/bin/python -c 'import importlib.metadata as m; print("opentrons", m.version("opentrons"))') ($$env)"; \
	  OT2_SIM_PYTHON="$$PWD/$$env/bin/python" $(BIN)/python -m pytest $(PYTEST_COMPAT) $(SHIM_TESTS) \
	    || failed="$$failed $$env"; \
	done; done; \
	if [ -n "$$failed" ]; then echo "test-compat: failed:$$failed" >&2; exit 1; fi

# A fresh "user" environment (Python 3.13, newest JupyterLab, Notebook, numpy 2) gets the project
# the documented way (pip install <repo>), keeps everything it had, and runs a notebook with
# --simulate; the simulator is set up in a temporary cache (no OT2_SIM_PYTHON here).
test-user-env: $(VENV)/.installed-test
	env -u OT2_SIM_PYTHON $(BIN)/python -m pytest -p no:cacheprovider -o addopts="-ra --strict-markers" -m user_env tests/test_user_env.py $(PYTEST_ARGS)
	@echo "user environment timings (s):"; cat test-artifacts/user-env-timings.json

# The benchmarks compare the simulator with opentrons in-process: they run in the simulator's
# environment (with psutil added there).
bench: install-sim
	@$(call make_env,$(SIM_VENV),$(SIM_BASE_PYTHON),psutil)
	$(SIM_VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(SIM_VENV) .venv-3.* .venv-sim-* .venv-run build *.egg-info .pytest_cache test-artifacts
