"""The run panel's buttons on both kinds of robot: ``ot2-sim`` on robot software 4
(protocol sessions) and on robot software 8 (``/protocols`` + ``/runs``, MQTT).

The buttons are clicked the way a browser's click arrives in the kernel (``Button.click()``
runs the registered handlers); what the robot did is read with a separate client, and on
software 8 also with plain HTTP (``GET /runs/{id}``: the robot's own status and actions).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from ot2_notebook.client import RobotClient, Session
from ot2_notebook.simulator import SimulatorHandle, start
from ot2_notebook.widgets import RunPanel
from tests.conftest import wait_until

#: 30 steps of 2 s; at speed 5 each takes 0.4 s (about 12 s in all) on both simulators.
SLOW = """metadata = {"apiLevel": "2.20", "protocolName": "Slow steps"}


def run(ctx):
    for index in range(30):
        ctx.delay(seconds=2, msg=f"waiting {index}")
"""

#: The buttons each state enables, written out per robot software (not derived from the
#: tables under test). A software 8 run can be cancelled before it starts, and runs once.
ENABLED = {
    4: {
        "loaded": {"start"},
        "running": {"pause", "cancel"},
        "paused": {"resume", "cancel"},
        "stopped": set(),
        "finished": {"start"},
    },
    8: {
        "loaded": {"start", "cancel"},
        "running": {"pause", "cancel"},
        "paused": {"resume", "cancel"},
        "stopped": set(),
        "finished": set(),
    },
}

#: The robot's own run status behind each state (software 8).
ROBOT_STATUS = {"running": "running", "paused": "paused", "stopped": "stopped"}


@pytest.fixture(scope="module", params=[4, 8], ids=["software4", "software8"])
def slow_sim(request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    software = int(request.param)
    limits = {"max_protocols": 10} if software == 4 else {}
    with start(port=0, robot_software=software, speed=5.0, analysis_timeout=60, **limits) as handle:
        handle.software = software  # type: ignore[attr-defined]
        yield handle


@pytest.fixture
def robot(slow_sim: SimulatorHandle) -> Iterator[RobotClient]:
    with RobotClient(slow_sim.url, timeout=60) as client:
        yield client
        for session in client.sessions():
            client.delete_session(session.id)
        for protocol in client.protocols():
            client.delete_protocol(protocol.id)


@pytest.fixture
def panels() -> Iterator[list[RunPanel]]:
    made: list[RunPanel] = []
    yield made
    for panel in made:
        panel.close()
    for panel in made:
        assert panel.threads == []


def robot_state(url: str, session_id: str) -> str:
    with RobotClient(url) as other:
        return other.session_data(session_id).state


def wait_robot(url: str, session_id: str, state: str) -> None:
    wait_until(
        lambda: robot_state(url, session_id) == state,
        timeout=30,
        message=lambda: f"the robot never reached {state!r}: {robot_state(url, session_id)!r}",
    )


def run_on_robot(url: str, run_id: str) -> dict[str, object]:
    reply = requests.get(f"{url}/runs/{run_id}", headers={"Opentrons-Version": "*"}, timeout=30)
    reply.raise_for_status()
    return dict(reply.json()["data"])


def check_buttons(panel: RunPanel, software: int, state: str) -> None:
    assert panel.state == state
    assert panel.enabled_buttons() == ENABLED[software][state], (software, state)


def loaded(robot: RobotClient) -> Session:
    protocol = robot.upload(("slow_steps.py", SLOW), replace=True)
    return robot.create_session(protocol.id).wait_for("loaded", timeout=60)


def test_pause_resume_and_cancel_from_the_run_panel(
    slow_sim: SimulatorHandle, robot: RobotClient, panels: list[RunPanel]
) -> None:
    software: int = slow_sim.software  # type: ignore[attr-defined]
    assert robot.uses_runs_api is (software == 8)
    session = loaded(robot)
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    check_buttons(panel, software, "loaded")

    panel.buttons["start"].click()
    wait_robot(slow_sim.url, session.id, "running")
    panel.wait_for("running", 30)
    check_buttons(panel, software, "running")
    wait_until(lambda: panel.tracker.index >= 1, message="no step reached the panel")

    panel.buttons["pause"].click()
    wait_robot(slow_sim.url, session.id, "paused")
    panel.wait_for("paused", 30)
    check_buttons(panel, software, "paused")
    paused_at = panel.tracker.index

    panel.buttons["resume"].click()
    wait_robot(slow_sim.url, session.id, "running")
    panel.wait_for("running", 30)
    check_buttons(panel, software, "running")
    wait_until(lambda: panel.tracker.index > paused_at, message="the run did not go on")

    panel.buttons["cancel"].click()
    wait_robot(slow_sim.url, session.id, "stopped")
    panel.wait_for("stopped", 30)
    check_buttons(panel, software, "stopped")
    assert panel.text().splitlines()[1].startswith("  state: stopped (cancelled)")
    # nothing more can happen to a cancelled run: the panel's threads end by themselves
    # (on software 8 once the robot's own status is over too: stop-requested -> stopped)
    wait_until(lambda: panel.threads == [], message=lambda: f"threads left: {panel.threads}")
    assert panel.last_error is None
    log = [e.plain().strip() for e in panel.tracker.log]
    for expected in ("startRun sent", "pause sent", "resume sent", "cancel sent", "[paused]"):
        assert expected in log
    if software == 8:
        run = run_on_robot(slow_sim.url, session.id)
        assert run["status"] == "stopped"
        actions = [a["actionType"] for a in run["actions"]]  # type: ignore[index]
        assert actions == ["play", "pause", "play", "stop"]
        assert "[robot:" not in panel.text()  # its status says no more than the state
        assert 30 > len([e for e in panel.tracker.log if e.kind == "step"]) > 0


def test_a_software8_run_can_be_cancelled_before_it_starts_and_shows_the_robot_status(
    slow_sim: SimulatorHandle, robot: RobotClient, panels: list[RunPanel]
) -> None:
    software: int = slow_sim.software  # type: ignore[attr-defined]
    session = loaded(robot)
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    if software == 4:
        assert "cancel" not in panel.enabled_buttons()
        assert "[robot:" not in panel.text()
        return
    assert "robot: idle" in panel.state_view.value
    panel.buttons["cancel"].click()
    panel.wait_for("stopped", 30)
    assert run_on_robot(slow_sim.url, session.id)["status"] == "stopped"
    check_buttons(panel, 8, "stopped")
