"""The plain-HTTP examples run against ot2-sim on the robot's own port, 31950."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ot2_notebook.simulator import SimulatorHandle, start

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def robot_port_sim() -> Iterator[SimulatorHandle]:
    with start(port=31950) as handle:
        yield handle


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
