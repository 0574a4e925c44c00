"""The plain-HTTP examples run against ot2-sim on the robot's own port, 31950: as it is, and
in its robot-like mode (robot-server 4.7 where a client must cope: API 2.11 at most, a
cancel that holds the robot, a cancel of a paused run refused), where the request log also
shows that the examples never send what deadlocks a real 4.7 server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ot2_notebook.simulator import SimulatorHandle, start

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module", params=["default", "robot-like"])
def robot_port_sim(request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    options = {"robot_like": True, "stop_delay": 3.0} if request.param == "robot-like" else {}
    with start(port=31950, **options) as handle:
        yield handle
        if request.param == "robot-like":
            log = requests.get(f"{handle.url}/simulator/requests", timeout=30).json()
            assert log["wouldDeadlock"] == []
            stops = [e for e in log["requests"] if "sessionState" in e]
            assert any(e.get("blockedFor") for e in stops), "no cancel of a running run"


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_requests_example(robot_port_sim: SimulatorHandle) -> None:
    out = _run([sys.executable, str(EXAMPLES / "robot_api_with_requests.py")])
    assert "session is finished" in out and "session is stopped" in out
    assert (
        out.index("protocol.pause") < out.index("session is paused") < out.index("protocol.resume")
    )
    assert out.rstrip().endswith("done")


def test_curl_example(robot_port_sim: SimulatorHandle) -> None:
    out = _run(["bash", str(EXAMPLES / "robot_api_with_curl.sh")])
    assert out.count("session is loaded") == 2
    assert "session is paused" in out and out.rstrip().endswith("done")
