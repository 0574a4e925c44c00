"""A lab's ordinary Jupyter environment gets ot2-notebook the documented way, and keeps
everything it had: the README's promise, tested for real.

A fresh virtual environment on Python 3.13 with the newest JupyterLab, Notebook, numpy 2 and
pandas (what a user has) records its packages; ``pip install <this repository>`` (not
editable) must only add packages, leave ``pip check`` clean and JupyterLab starting; then a
notebook runs in that environment's own kernel (nbclient) with ``%load_ext ot2_notebook``,
``%ot2_connect --simulate`` and a ``%%ot2_protocol ... --run --wait`` cell that must finish:
first with an empty cache (the kernel sets the simulator's environment up, in a temporary
cache folder), then again (reusing it). Both times are printed.

Run with ``make test-user-env`` (``-m user_env``; deselected otherwise: it takes minutes).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from tests.conftest import wait_until

pytestmark = [pytest.mark.user_env, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[1]
USER_PACKAGES = ["jupyterlab", "notebook", "numpy>=2", "pandas", "ipykernel"]

PROTOCOL = """\
%%ot2_protocol user_env_check --run --wait
metadata = {"apiLevel": "2.13", "protocolName": "User environment check"}

def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.transfer(50, plate["A1"], plate["B1"])
"""

CHECK = """\
import importlib.util, numpy, ot2_notebook
robot = ot2_notebook.current_robot()
states = [session.state for session in robot.sessions()]
print("states:", states)
print("numpy:", numpy.__version__)
print("opentrons importable here:", importlib.util.find_spec("opentrons") is not None)
"""

RUNNER = """\
import sys, time, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
started = time.monotonic()
NotebookClient(notebook, timeout=1200, kernel_name="python3").execute()
print(f"SECONDS {time.monotonic() - started:.1f}")
nbformat.write(notebook, sys.argv[2])
"""


def _python313() -> str:
    if sys.version_info[:2] == (3, 13):
        return sys.executable
    found = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python"))
    if not found:
        pytest.fail("The user-environment test needs Python 3.13 (pyenv install 3.13).")
    return str(found[-1])


def _run(*argv: str | Path, env: dict[str, str] | None = None, timeout: float = 1200) -> str:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _packages(python: Path) -> dict[str, str]:
    out = _run(python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def _user_env(tmp: Path) -> dict[str, str]:
    """What the user's kernel sees: that environment first on PATH, no simulator configured,
    the simulator's environment in a temporary cache, private Jupyter folders."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OT2_SIM_", "JUPYTER", "VIRTUAL"))
    }
    env.update(
        PATH=f"{tmp / 'user' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        OT2_SIM_CACHE_DIR=str(tmp / "cache"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter" / "config"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter" / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter" / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(tmp / "ipython"),
    )
    env.pop("PYTHONPATH", None)
    return env


def _notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext ot2_notebook"),
        nbformat.v4.new_code_cell("%ot2_connect --simulate"),
        nbformat.v4.new_code_cell(PROTOCOL),
        nbformat.v4.new_code_cell(CHECK),
    ]
    nbformat.write(notebook, path)


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(str(output["data"].get("text/plain", "")))
    return "".join(parts)


def _jupyterlab_starts(user: Path, env: dict[str, str], tmp: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(12)
    log = tmp / "lab.log"
    with log.open("w") as out:
        lab = subprocess.Popen(
            [
                str(user / "bin" / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/status"

    def status() -> dict[str, object] | None:
        assert lab.poll() is None, f"JupyterLab exited:\n{log.read_text()[-3000:]}"
        try:
            reply = requests.get(url, headers={"Authorization": f"token {token}"}, timeout=5)
        except requests.RequestException:
            return None
        return dict(reply.json()) if reply.status_code == 200 else None

    try:
        answer = wait_until(status, timeout=120, message=lambda: log.read_text()[-3000:])
        assert "started" in answer, answer
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait(timeout=10)


def test_install_into_a_current_jupyter_changes_nothing_and_simulates(tmp_path: Path) -> None:
    user = tmp_path / "user"
    python = user / "bin" / "python"
    timings: dict[str, float] = {}
    started = time.monotonic()
    _run(_python313(), "-m", "venv", user)
    _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(python, "-m", "pip", "install", "--quiet", *USER_PACKAGES)
    timings["user environment"] = time.monotonic() - started
    before = _packages(python)
    assert before["numpy"].split(".")[0] == "2", before["numpy"]
    (tmp_path / "freeze-before.txt").write_text(_run(python, "-m", "pip", "freeze"))

    started = time.monotonic()
    _run(python, "-m", "pip", "install", "--quiet", ROOT)  # the README's way
    timings["pip install <repo>"] = time.monotonic() - started
    after = _packages(python)
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    assert not changed, f"installing ot2-notebook changed the user's packages: {changed}"
    added = sorted(set(after) - set(before))
    assert "ot2-notebook" in added
    # opentrons-shared-data 8.x is a dependency on purpose (the deck view's and the name
    # hints' JSON definitions; it needs only jsonschema 4 and pydantic 2, and changed nothing
    # above); opentrons itself and the simulator's server must never come with it
    assert not {"opentrons", "fastapi", "uvicorn"} & set(added), added
    _run(python, "-m", "pip", "check")

    env = _user_env(tmp_path)
    _jupyterlab_starts(user, env, tmp_path)

    notebook = tmp_path / "check.ipynb"
    _notebook(notebook)
    runs = []
    for attempt in ("first (sets the simulator up)", "second (reuses it)"):
        out = tmp_path / f"executed-{len(runs)}.ipynb"
        started = time.monotonic()
        printed = _run(python, "-c", RUNNER, notebook, out, env=env, timeout=1500)
        timings[f"notebook, {attempt}"] = time.monotonic() - started
        cells = nbformat.read(out, as_version=4).cells
        runs.append((printed, cells))
        check = _text(cells[3])
        assert "'finished'" in check, check
        assert "numpy: 2." in check, check
        assert "opentrons importable here: False" in check, check
    first_connect, second_connect = _text(runs[0][1][1]), _text(runs[1][1][1])
    assert "ot2-sim: setting up the simulated robot's own environment" in first_connect
    assert "the simulator's environment is ready" in first_connect
    assert "setting up" not in second_connect, second_connect
    assert (tmp_path / "cache" / "sim-env" / "ot2-notebook-sim.json").is_file()
    assert _packages(python) == after, "running the notebook installed something in the kernel"

    report = "\n".join(f"  {what}: {seconds:.1f} s" for what, seconds in timings.items())
    print(f"\nuser environment timings:\n{report}")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "user-env-timings.json").write_text(
        json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2) + "\n"
    )
