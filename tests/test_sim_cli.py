"""The ``ot2-sim`` command line and ``start()``: binding, warnings, bad options, data folder."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from ot2_notebook.simulator import start
from ot2_notebook.simulator.launcher import SimulatorError
from tests.conftest import VERSION, sim_command, wait_until


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sim_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_the_options() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in (
        "--host",
        "--port",
        "--max-protocols",
        "--analysis-timeout",
        "--speed",
        "--no-protocol-sessions",
        "--data-dir",
        "--allow-host",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--speed", "0"], "must be greater than 0"),
        (["--max-protocols", "-1"], "greater than 0"),
        (["--port", "abc"], "invalid int value"),
    ],
)
def test_bad_options_are_refused_clearly(args: list[str], complaint: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert complaint in result.stderr


def test_busy_port_is_reported_with_a_hint() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port))
        assert result.returncode == 2
        assert "cannot listen on 127.0.0.1 port" in result.stderr
        assert "--port 0" in result.stderr
        with pytest.raises(SimulatorError, match="use port=0"):
            start(port=port)


def test_listening_beyond_loopback_warns(tmp_path: Path) -> None:
    log = tmp_path / "sim.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*sim_command(), "--host", "0.0.0.0", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "listening on http://" in log.read_text(),
            timeout=60,
            message=lambda: log.read_text(),
        )
        text = log.read_text()
        assert "no authentication" in text
        port = int(text.split("listening on http://0.0.0.0:")[1].split()[0])
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/health"),
            timeout=60,
            message="the simulator bound to 0.0.0.0 did not answer",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown, as a service should
        assert process.wait(timeout=20) in (0, -signal.SIGTERM), log.read_text()
        assert "Application shutdown complete" in log.read_text()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers=VERSION, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_loopback_start_does_not_warn() -> None:
    with start(port=0) as handle:
        assert handle.url.startswith("http://127.0.0.1:")
        assert "no authentication" not in handle.log_tail(50)


def test_foreign_data_dir_is_never_cleared(tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(SimulatorError, match="not empty and was not made by ot2-sim"):
        start(port=0, data_dir=precious, startup_timeout=60)
    assert (precious / "thesis.txt").read_text() == "do not delete"


def test_own_data_dir_is_reused_and_forgotten_on_restart(tmp_path: Path) -> None:
    folder = tmp_path / "robot"
    with start(port=0, data_dir=folder) as handle:
        reply = requests.post(
            handle.url + "/protocols",
            headers=VERSION,
            files=[
                ("protocolFile", ("hello.py", b"metadata={'apiLevel':'2.13'}\ndef run(c): pass\n"))
            ],
            timeout=30,
        )
        assert reply.status_code == 201
        assert (folder / "protocols" / "hello" / "hello.py").is_file()
    with start(port=0, data_dir=folder) as handle:
        # like a robot after a restart: uploads are gone
        assert (
            requests.get(handle.url + "/protocols", headers=VERSION, timeout=10).json()["data"]
            == []
        )
    assert not (folder / "protocols" / "hello").exists()


def test_child_exits_when_its_parent_dies(tmp_path: Path) -> None:
    """A notebook kernel killed with SIGKILL must not leave its simulator running."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from ot2_notebook.simulator import start\n"
        "handle = start(port=0)\n"
        "print(handle.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        child_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert psutil.pid_exists(child_pid)
        parent.kill()
        parent.wait(timeout=10)
        wait_until(
            lambda: (
                not psutil.pid_exists(child_pid)
                or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
            ),
            timeout=30,
            message="the simulator outlived its parent",
        )
    finally:
        parent.kill()
