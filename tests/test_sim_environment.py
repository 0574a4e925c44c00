"""Which simulator ``start()`` launches, the ``ot2-sim`` dispatcher, and the simulator's own
environment set up in a cache folder: real interpreters, real ``ot2-sim`` commands, real
pip and uv builds (into temporary cache folders, never the user's).

The one stand-in: an ``ot2-sim`` of another ot2-notebook version on PATH is a small script
that answers ``version --json`` as such a release would (no other release exists to install).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from ot2_notebook import __version__
from ot2_notebook.simulator import SimulatorError, find_simulator, setup_simulator, start
from ot2_notebook.simulator.environment import (
    ENV_CACHE_DIR,
    ENV_COMMAND,
    ENV_INSTALLER,
    ENV_PYTHON,
    MARKER,
    SimulatorSetupError,
    _extra_requirements,
    can_run_server,
    package_source,
    simulator_env_dir,
)
from tests.conftest import VERSION, wait_until

KERNEL_BIN = Path(sys.executable).parent
KERNEL_OT2_SIM = KERNEL_BIN / "ot2-sim"


def _sim_python() -> str:
    """The interpreter of the simulator's environment the tests use (conftest pins it)."""
    if os.environ.get(ENV_PYTHON):
        return os.environ[ENV_PYTHON]
    assert can_run_server(), "conftest pins OT2_SIM_PYTHON when this environment has no server"
    return sys.executable


SIM_PYTHON = _sim_python()
SIM_OT2_SIM = str(Path(SIM_PYTHON).parent / "ot2-sim")


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No configured simulator, a PATH with only the system's folders, an empty cache."""
    monkeypatch.delenv(ENV_PYTHON, raising=False)
    monkeypatch.delenv(ENV_COMMAND, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    cache = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE_DIR, str(cache))
    return cache


def _health(url: str) -> dict[str, object]:
    reply = requests.get(f"{url}/health", headers=VERSION, timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


# -- the order of discovery ----------------------------------------------------------------------


def test_explicit_python_and_command_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PYTHON, "/nonexistent/python")
    choice = find_simulator(python=SIM_PYTHON)
    assert choice.command == (SIM_PYTHON, "-m", "ot2_notebook.simulator")
    assert choice.origin == "python="
    choice = find_simulator(command=f"{SIM_OT2_SIM} --log-level warning")
    assert choice.command == (SIM_OT2_SIM, "--log-level", "warning")
    assert choice.origin == "command="
    with pytest.raises(SimulatorSetupError, match="not both"):
        find_simulator(python=SIM_PYTHON, command=[SIM_OT2_SIM])


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PYTHON, SIM_PYTHON)
    monkeypatch.delenv(ENV_COMMAND, raising=False)
    assert find_simulator().origin == ENV_PYTHON
    monkeypatch.setenv(ENV_COMMAND, SIM_OT2_SIM)
    with pytest.raises(SimulatorSetupError, match="set only one"):
        find_simulator()
    monkeypatch.delenv(ENV_PYTHON)
    assert find_simulator().command == (SIM_OT2_SIM,)
    monkeypatch.delenv(ENV_COMMAND)
    monkeypatch.setenv(ENV_PYTHON, "/nonexistent/python3.11")
    with pytest.raises(
        SimulatorSetupError, match=r"OT2_SIM_PYTHON.*nonexistent.*not an interpreter"
    ):
        find_simulator()


def _fake_ot2_sim(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ot2-sim"
    about = json.dumps({"version": version, "python": "/elsewhere/python", "server": True})
    script.write_text(f"#!/bin/sh\necho '{about}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_ot2_sim_on_path_of_this_version(
    bare: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _fake_ot2_sim(tmp_path / "old", "0.0.1")
    mine = tmp_path / "pipx"
    mine.mkdir()
    (mine / "ot2-sim").symlink_to(SIM_OT2_SIM)
    # this environment's own ot2-sim first on PATH, then an older release, then a good one
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(KERNEL_BIN), str(old.parent), str(mine), "/usr/bin"])
    )
    choice = find_simulator()
    assert choice.origin == "PATH"
    assert choice.command == (str(mine / "ot2-sim"),)
    assert any(str(old) in note and "0.0.1 there" in note for note in choice.skipped), choice
    assert not any(str(KERNEL_OT2_SIM) in note for note in choice.skipped), (
        "own one is no candidate"
    )
    with start(port=0) as handle:
        assert _health(handle.url)["name"] == "ot2-sim"
        assert handle.simulator is not None and handle.simulator.origin == "PATH"


def test_this_environment_or_the_cache(bare: Path) -> None:
    choice = find_simulator()
    if can_run_server():
        assert choice.origin == "this environment"
        assert choice.command[0] == sys.executable
    else:
        assert choice.origin == "cache"
        assert not choice.ready
        assert choice.command[0] == str(bare / "sim-env" / "bin" / "python")
        assert "not set up yet" in choice.describe()


def test_extra_requirements_keep_other_markers() -> None:
    requires = [
        "requests>=2.28",
        'opentrons<9,>=8; extra == "sim"',
        'fastapi>=0.110; python_version < "3.14" and extra == "sim"',
        "pytest>=8; extra == 'test'",
    ]
    assert _extra_requirements(requires) == (
        "opentrons<9,>=8",
        'fastapi>=0.110; python_version < "3.14"',
    )


def test_the_source_is_this_checkout() -> None:
    """make installs the kernel side editable: the simulator's environment is built from the
    same checkout (editable too), with the `sim` requirements of the installed metadata."""
    source = package_source()
    root = Path(__file__).resolve().parents[1]
    assert source.version == __version__
    assert source.install in (("-e", str(root)), (str(root),), ("-e", f"{root}[sim]"))
    assert any(req.startswith("opentrons") and "<9" in req for req in source.requirements)
    assert not any(req.startswith(("ipywidgets", "ipython")) for req in source.requirements)


# -- start() with a simulator named --------------------------------------------------------------


def test_start_with_python_and_with_command() -> None:
    with start(port=0, python=SIM_PYTHON) as one, start(port=0, command=[SIM_OT2_SIM]) as two:
        assert _health(one.url)["name"] == _health(two.url)["name"] == "ot2-sim"
        assert psutil.Process(one.pid).cmdline()[0] == SIM_PYTHON
        assert one.simulator is not None and one.simulator.origin == "python="


def test_start_with_an_environment_without_the_server_says_which(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(empty)], check=True)
    with pytest.raises(SimulatorError, match=r"(?s)exited during start-up.*python=") as caught:
        start(port=0, python=str(empty / "bin" / "python"), startup_timeout=60)
    assert "No module named" in str(caught.value)


# -- the ot2-sim dispatcher ---------------------------------------------------------------------


def _dispatch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KERNEL_OT2_SIM), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_dispatcher_where_and_version() -> None:
    where = _dispatch("where", **{ENV_PYTHON: SIM_PYTHON})
    assert where.returncode == 0, where.stderr
    assert f"simulator: {SIM_PYTHON} -m ot2_notebook.simulator" in where.stdout
    assert "OT2_SIM_PYTHON" in where.stdout
    about = json.loads(_dispatch("version", "--json").stdout)
    assert about == {"version": __version__, "python": sys.executable, "server": can_run_server()}


def test_dispatcher_help_shows_its_own_and_the_servers_options() -> None:
    result = _dispatch("--help", **{ENV_PYTHON: SIM_PYTHON})
    assert result.returncode == 0, result.stderr
    assert "ot2-sim setup" in result.stdout and "ot2-sim where" in result.stdout
    assert "--max-protocols" in result.stdout  # cli.py's own help, from the simulator's side


def test_dispatcher_hands_the_server_over_in_the_same_process(tmp_path: Path) -> None:
    """From an environment without the server, `ot2-sim --port 0` execs the simulator's
    environment: the same process (pid) ends up serving, and SIGTERM stops it cleanly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "sim.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(KERNEL_OT2_SIM), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, ENV_PYTHON: SIM_PYTHON},
        )
    try:
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/health"),
            timeout=90,
            message=lambda: log.read_text(),
        )
        cmdline = psutil.Process(process.pid).cmdline()
        if not can_run_server():
            assert cmdline[:3] == [SIM_PYTHON, "-m", "ot2_notebook.simulator"], cmdline
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers=VERSION, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_dispatcher_refuses_a_second_hand_over() -> None:
    """OT2_SIM_COMMAND naming an ot2-sim without a server must not loop."""
    if can_run_server():
        pytest.fail("run this test from the kernel's environment (make test): it has no server")
    result = _dispatch("--port", "0", **{ENV_COMMAND: str(KERNEL_OT2_SIM), ENV_PYTHON: ""})
    assert result.returncode == 2
    assert "already handed over" in result.stderr


# -- the cache environment ----------------------------------------------------------------------


def _env_packages(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps("
            "{d.metadata['Name'].lower(): d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_cache_environment_is_set_up_once_and_reused(
    bare: Path, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    """Two processes set it up at once: one builds, the other waits for it. It has the
    server but not the notebook side (no IPython, ipywidgets); start() then runs it; the
    next setup does nothing; a changed source rebuilds it."""
    if installer == "uv":
        uv = shutil.which("uv", path=str(KERNEL_BIN))
        assert uv, "uv is in the test extra (pip install -e '.[test]')"
        monkeypatch.setenv("PATH", f"{Path(uv).parent}:/usr/bin:/bin")
    monkeypatch.setenv(ENV_INSTALLER, installer)
    # the builds may find a base Python under pyenv or on the system's PATH
    commands = [[str(KERNEL_OT2_SIM), "setup"] for _ in range(2)]
    processes = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd in commands
    ]
    outputs = [p.communicate(timeout=800) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    progress = "".join(err for _out, err in outputs)
    assert progress.count("creating a Python 3.1") == 1, progress
    assert "another process is setting up" in progress, progress
    assert f"with {installer}" in progress
    env_dir = simulator_env_dir()
    marker = json.loads((env_dir / MARKER).read_text())
    assert marker["installer"] == installer and marker["package"] == __version__
    packages = _env_packages(env_dir / "bin" / "python")
    assert packages["opentrons"].startswith("8.")
    assert "fastapi" in packages and "uvicorn" in packages
    assert not {"ipython", "ipywidgets", "pandas", "requests"} & set(packages), packages

    choice = find_simulator()
    assert choice.origin == "cache" and choice.ready
    lines: list[str] = []
    with start(port=0, progress=lines.append) as handle:
        assert _health(handle.url)["name"] == "ot2-sim"
    assert lines == [], "a ready environment is not set up again"

    setup_simulator(progress=lines.append)
    assert lines == []
    marker["fingerprint"] = "something else"
    (env_dir / MARKER).write_text(json.dumps(marker))
    assert not find_simulator().ready, "a changed package means a new environment"


@pytest.mark.timeout(300)
def test_no_network_says_how_to_set_it_up_offline(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip against a package index nobody listens on (no configuration, no wheel folder)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip says why only when it retries
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv(ENV_INSTALLER, "pip")
    lines: list[str] = []
    with pytest.raises(SimulatorSetupError) as caught:
        start(port=0, progress=lines.append)
    message = str(caught.value)
    assert "could not be reached" in message
    assert "ot2-sim setup" in message and "PIP_FIND_LINKS" in message and ENV_PYTHON in message
    assert lines and lines[0].startswith("ot2-sim: setting up")
    assert not (simulator_env_dir() / MARKER).exists(), "a failed build is never marked ready"


def test_setup_refuses_a_python_opentrons_cannot_use(bare: Path) -> None:
    with pytest.raises(SimulatorSetupError, match=r"needs Python 3\.10, 3\.11, 3\.12"):
        setup_simulator(python=sys.executable if sys.version_info >= (3, 13) else _py313())


def _py313() -> str:
    found = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python"))
    if not found:
        pytest.fail("no Python 3.13 here to try (the kernel side runs on it in make test)")
    return str(found[-1])
