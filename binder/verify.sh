#!/usr/bin/env bash
# Verify the Binder setup on this machine, as far as it allows (no Docker, no repo2docker):
#
#   1. a clean copy of the committed repository becomes HOME, as repo2docker lays it out;
#   2. a "server" virtual environment gets the Python of binder/runtime.txt and the newest
#      JupyterLab, notebook and ipywidgets, as Binder's image has;
#   3. binder/postBuild runs with that environment first on PATH, with nothing else of this
#      machine's Python set-up in its environment: the server's environment must then have
#      ot2-notebook and pass `pip check`, and the simulator's own environment must be set up
#      (in ~/.cache/ot2-notebook, by `ot2-sim setup`);
#   4. through binder/start: the "python3" kernel is the server's own Python, for the command
#      line and for a running JupyterLab (which must also serve the ipywidgets extension);
#   5. every notebook is executed with the server's Python as its kernel and checked against
#      its saved outputs with nbval, run from a separate harness environment with pinned
#      versions (so that the server's stays as Binder's).
#
# Usage: binder/verify.sh            (PYTHON=/path/to/python3.11 to choose the interpreter,
#                                     KEEP=1 to keep the temporary folder)
# Needs: git, curl, network access to the package index. Takes a few minutes.
set -euo pipefail

# The nbval harness, pinned: releases this check is known to work with.
HARNESS_PACKAGES=("pytest==9.2.0" "nbval==0.11.0" "jupyter_client==8.10.0" "nbformat==5.11.1")

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WANT="$(sed -n 's/^python-\([0-9]*\.[0-9]*\).*/\1/p' "${REPO}/binder/runtime.txt")"
[ -n "${WANT}" ] || { echo "verify: cannot read the Python version in binder/runtime.txt" >&2; exit 2; }
PYTHON="${PYTHON:-$(command -v "python${WANT}" || true)}"
[ -n "${PYTHON}" ] || { echo "verify: no python${WANT} on PATH (set PYTHON=...)" >&2; exit 2; }
HAVE="$("${PYTHON}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "${HAVE}" = "${WANT}" ] || { echo "verify: ${PYTHON} is Python ${HAVE}, binder/runtime.txt says ${WANT}" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ot2-binder.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "${SERVER_PID}" ]; then kill "${SERVER_PID}" 2>/dev/null || true; wait "${SERVER_PID}" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "verify: kept ${WORK}"; else rm -rf "${WORK}"; fi
}
trap cleanup EXIT

START=$(date +%s)
STEP_START=${START}
step() {  # step "what was done": print it with the seconds it took
  local now; now=$(date +%s)
  printf 'verify: %-62s %4d s\n' "$1" $((now - STEP_START))
  STEP_START=${now}
}
fail() { echo "verify: FAILED: $*" >&2; exit 1; }

HOME_DIR="${WORK}/home"
SERVER="${WORK}/server"
# What the Binder container's processes see: its HOME, the server environment first on PATH,
# and this machine's package-index settings (PIP_*), but none of this shell's Python set-up.
BASE_PATH="/usr/local/bin:/usr/bin:/bin"
binder_env=(env -i "HOME=${HOME_DIR}" "USER=${USER:-jovyan}" "LANG=C.UTF-8" "TMPDIR=${WORK}/tmp"
  "PATH=${SERVER}/bin:${BASE_PATH}")
while IFS= read -r var; do binder_env+=("${var}"); done < <(env | grep '^PIP_' || true)
mkdir -p "${WORK}/tmp"

# 1. The committed repository, as Binder clones it, is HOME.
git clone --quiet --no-hardlinks "${REPO}" "${HOME_DIR}"
COMMIT="$(git -C "${HOME_DIR}" rev-parse --short HEAD)"
step "clean copy of commit ${COMMIT} as HOME"

# 2. The server environment.
"${PYTHON}" -m venv "${SERVER}"
"${binder_env[@]}" python -m pip install --quiet --upgrade pip
"${binder_env[@]}" python -m pip install --quiet jupyterlab notebook ipywidgets
LAB_VERSION="$("${binder_env[@]}" jupyter lab --version)"
step "server environment: Python ${HAVE}, JupyterLab ${LAB_VERSION}"

# 3. postBuild, from the repository root as repo2docker runs it.
(cd "${HOME_DIR}" && "${binder_env[@]}" ./binder/postBuild > "${WORK}/postBuild.log" 2>&1) \
  || { tail -n 40 "${WORK}/postBuild.log" >&2; fail "binder/postBuild (log above)"; }
SERVER_PYTHON="${SERVER}/bin/python"
"${binder_env[@]}" python -m pip check > "${WORK}/pip-check.log" 2>&1 \
  || { cat "${WORK}/pip-check.log" >&2; fail "pip check in the server's environment after postBuild"; }
"${binder_env[@]}" python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("opentrons") is not None)' \
  || fail "opentrons was installed into the server's environment"
SIM_ENV="${HOME_DIR}/.cache/ot2-notebook/sim-env"
[ -f "${SIM_ENV}/ot2-notebook-sim.json" ] || fail "postBuild set up no simulator environment in ${SIM_ENV}"
SERVER_VERSIONS="$("${SERVER_PYTHON}" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("ot2-notebook", "jupyterlab", "ipykernel", "ipywidgets", "numpy", "pandas")))')"
SIM_VERSIONS="$("${SIM_ENV}/bin/python" -c 'import importlib.metadata as m, sys; print(f"Python {sys.version.split()[0]}, " + ", ".join(f"{p} {m.version(p)}" for p in ("opentrons", "fastapi", "numpy")))')"
step "binder/postBuild"
echo "verify:   server (kernel) environment: ${SERVER_VERSIONS}"
echo "verify:   simulator environment: ${SIM_VERSIONS}"

# 4. The kernel the server starts, through binder/start (as Binder starts everything).
run() { (cd "${HOME_DIR}" && "${binder_env[@]}" ./binder/start "$@"); }
run ot2-sim where > "${WORK}/where.txt" || { cat "${WORK}/where.txt" >&2; fail "ot2-sim where"; }
grep -q "simulator: ${SIM_ENV}/bin/python -m ot2_notebook.simulator" "${WORK}/where.txt" \
  || { cat "${WORK}/where.txt" >&2; fail "the notebooks would not use postBuild's simulator environment"; }
grep -q "not set up yet" "${WORK}/where.txt" && fail "the simulator environment is not ready"
SPEC_PYTHON="$(run jupyter kernelspec list --json | "${SERVER_PYTHON}" -c \
  'import json, sys; print(json.load(sys.stdin)["kernelspecs"]["python3"]["spec"]["argv"][0])')"
# "python" in a kernel spec means the server's own interpreter (jupyter_client runs sys.executable)
case "${SPEC_PYTHON}" in
  python|python3|"${SERVER_PYTHON}"|"${SERVER}/bin/python3") ;;
  *) fail "kernel python3 runs ${SPEC_PYTHON}, not the server's ${SERVER_PYTHON}" ;;
esac

PORT="$("${SERVER_PYTHON}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TOKEN="verify-$$"
LAB_ARGS=(--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port="${PORT}"
  --IdentityProvider.token="${TOKEN}")
[ "$(id -u)" != 0 ] || LAB_ARGS+=(--allow-root)   # Binder runs as a user; CI may run as root
(cd "${HOME_DIR}" && exec "${binder_env[@]}" ./binder/start jupyter lab "${LAB_ARGS[@]}" \
  > "${WORK}/lab.log" 2>&1) &
SERVER_PID=$!
URL="http://127.0.0.1:${PORT}"
for _ in $(seq 1 120); do
  curl -fs -o /dev/null -H "Authorization: token ${TOKEN}" "${URL}/api/status" && break
  kill -0 "${SERVER_PID}" 2>/dev/null || { cat "${WORK}/lab.log" >&2; fail "JupyterLab exited"; }
  sleep 0.5
done
curl -fsS -H "Authorization: token ${TOKEN}" "${URL}/api/kernelspecs" > "${WORK}/kernelspecs.json" \
  || { cat "${WORK}/lab.log" >&2; fail "JupyterLab did not answer on ${URL}"; }
"${SERVER_PYTHON}" - "${WORK}/kernelspecs.json" "${SERVER_PYTHON}" <<'PY' || fail "JupyterLab's kernels"
import json, sys
specs = json.load(open(sys.argv[1]))
argv0 = specs["kernelspecs"]["python3"]["spec"]["argv"][0]
assert specs["default"] == "python3", f"default kernel {specs['default']!r}"
assert argv0 in ("python", "python3", sys.argv[2]), f"JupyterLab's python3 kernel runs {argv0}"
assert set(specs["kernelspecs"]) == {"python3"}, f"other kernels registered: {sorted(specs['kernelspecs'])}"
PY
# The page a Binder link opens (labpath=notebooks/...): its configuration lists the front-end
# extensions the browser loads, which must include ipywidgets' (or the panels do not render).
curl -fsS -H "Authorization: token ${TOKEN}" "${URL}/lab/tree/notebooks/01_getting_started.ipynb" \
  > "${WORK}/lab.html" || fail "JupyterLab did not serve the first notebook"
grep -q '@jupyter-widgets/jupyterlab-manager' "${WORK}/lab.html" \
  || fail "JupyterLab does not load the ipywidgets extension (the panels would not render)"
kill "${SERVER_PID}"; wait "${SERVER_PID}" 2>/dev/null || true; SERVER_PID=""
step "kernel python3 is the server's; JupyterLab serves it and ipywidgets"

# 5. Every notebook, top to bottom in one kernel (what "Run All" does on Binder), under nbval:
# outputs as saved. nbval runs from a harness environment with pinned versions; its kernel is
# the server's Python, through a kernel spec of its own (a spec whose argv[0] is "python", as
# ipykernel's own, would run the harness's interpreter). `-o addopts=`: the project's pytest
# options say --nbval-current-env (the harness's interpreter as the kernel: "No module named
# 'ot2_notebook'", reported as "Missing output fields from running code").
HARNESS="${WORK}/harness"
"${PYTHON}" -m venv "${HARNESS}"
"${binder_env[@]}" "${HARNESS}/bin/python" -m pip install --quiet "${HARNESS_PACKAGES[@]}"
mkdir -p "${WORK}/harness-jupyter/kernels/binder-server"
printf '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Binder server", "language": "python"}\n' \
  "${SERVER_PYTHON}" > "${WORK}/harness-jupyter/kernels/binder-server/kernel.json"
step "nbval harness environment ($("${HARNESS}/bin/python" -m pip list --format=freeze 2>/dev/null | grep -iE '^(pytest|nbval|jupyter.client)==' | tr '\n' ' '))"
(cd "${HOME_DIR}" && "${binder_env[@]}" JUPYTER_PATH="${WORK}/harness-jupyter" ./binder/start \
  "${HARNESS}/bin/python" -m pytest notebooks -q -p no:cacheprovider -o addopts= --nbval \
  --nbval-kernel-name binder-server --nbval-sanitize-with notebooks/nbval_sanitize.cfg) \
  > "${WORK}/nbval.log" 2>&1 || { tail -n 80 "${WORK}/nbval.log" >&2; fail "nbval"; }
tail -n 1 "${WORK}/nbval.log" | sed 's/^/verify:   nbval: /'
step "nbval with the Binder kernel"

echo "verify: OK: Binder setup of commit ${COMMIT} works; total $(( $(date +%s) - START )) s"
