"""The opentrons internals the worker relies on are checked when the simulator starts.

A new opentrons 8.x release may rename any internal the worker uses
(``ot2_notebook/simulator/workers/internals.py``). These tests rename one, as such a release
would, in every process of a real simulator (``tests/support/break_opentrons``), and check
that the simulator refuses to start, naming the opentrons version, what is missing, what it
is needed for, and which opentrons to install.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from ot2_notebook.simulator import start
from ot2_notebook.simulator.launcher import SimulatorError
from tests.conftest import VERSION

BREAK_OPENTRONS = Path(__file__).resolve().parent / "support" / "break_opentrons"


@pytest.fixture(scope="module")
def opentrons_version() -> str:
    """The simulator's opentrons, from a simulator started with the same helper on
    ``PYTHONPATH`` but nothing broken: it starts, so the failures below come only from the
    renamed internal."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(BREAK_OPENTRONS))
        patch.delenv("OT2_SIM_TEST_BREAK", raising=False)
        with start(port=0, spare_workers=0) as handle:
            health = requests.get(handle.url + "/health", headers=VERSION, timeout=30).json()
    version = health["simulator"]["opentrons_version"]
    assert version and version.startswith("8."), health
    return str(version)


@pytest.mark.parametrize(
    ("internal", "named", "needed_for"),
    [
        ("estimator-increments", "DurationEstimator", "estimated run times"),
        ("module-core", "ModuleContext._core", "module type and model"),
    ],
)
def test_a_missing_internal_stops_the_start_and_is_named(
    monkeypatch: pytest.MonkeyPatch,
    opentrons_version: str,
    internal: str,
    named: str,
    needed_for: str,
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(BREAK_OPENTRONS))
    monkeypatch.setenv("OT2_SIM_TEST_BREAK", internal)
    with pytest.raises(SimulatorError) as failure:
        start(port=0, spare_workers=0, startup_timeout=120).stop()
    message = str(failure.value)
    assert "exited during start-up (exit code 3)" in message, message
    assert f"ot2-sim cannot simulate with opentrons {opentrons_version}" in message, message
    assert named in message and needed_for in message, message
    assert "tested with opentrons 8.0.0 to 8.8.2" in message, message
    assert "pip install 'opentrons>=8.0.0,<=8.8.2'" in message, message
