"""Never hang a robot: every path that cancels or deletes a session, against a robot-like
``ot2-sim`` (robot-server 4.7 as a client meets it), and the waits that ride out its block.

The robot-like simulator records every request, and whether it would have deadlocked a real
4.7 server (a cancel or delete of a paused session): each test asserts that none did, and
that the paused run was resumed before it was stopped. On plain ``ot2-sim`` (which says in
``GET /health`` that it stops paused runs at once) the client sends the stop directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ot2_notebook import session_states as states
from ot2_notebook.client import RobotClient, Session, SessionWatcher, StopRefusedError
from ot2_notebook.client.safety import StopGuard, stop_target, stops_paused_runs_safely
from ot2_notebook.magics.ledger import Ledger, created_stamp
from ot2_notebook.magics.robotops import cleanup
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import Api

SLOW = """
metadata = {"apiLevel": "2.11", "protocolName": "Slow"}


def run(ctx):
    for index in range(120):
        ctx.delay(seconds=1, msg=f"waiting {index}")
"""


@pytest.fixture(scope="module")
def robot_like() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_like=True, stop_delay=2.0, speed=1, max_protocols=20) as handle:
        yield handle


@pytest.fixture
def robot(robot_like: SimulatorHandle) -> Iterator[RobotClient]:
    with RobotClient(robot_like.url) as client:
        yield client
    with Api(robot_like.url) as api:
        for item in api.get("/sessions").json()["data"]:
            if item["details"]["currentState"] == "paused":
                api.command(item["id"], "protocol.resume")
        api.clean()


def log_of(handle: SimulatorHandle) -> dict[str, Any]:
    with Api(handle.url) as api:
        return dict(api.get("/simulator/requests").json())


def paused_run(robot: RobotClient) -> Session:
    protocol = robot.upload(("slow.py", SLOW), replace=True)
    session = robot.create_session(protocol).wait_for("loaded")
    session.start()
    session.wait_for("running")
    session.pause()
    return session.wait_for("paused")


def stops_of(handle: SimulatorHandle, session_id: str) -> list[dict[str, Any]]:
    return [e for e in log_of(handle)["requests"] if e.get("sessionId") == session_id]


def commands_after_pause(session: Session) -> list[str]:
    events = [e.event for e in session.events if e.source == "sessionCommand"]
    return events[events.index(states.PAUSE) + 1 :]


def assert_resumed_then_stopped(handle: SimulatorHandle, session_id: str, method: str) -> None:
    assert log_of(handle)["wouldDeadlock"] == []
    [stop] = stops_of(handle, session_id)
    assert (stop["method"], stop["sessionState"], stop["status"]) == (method, "running", 200)
    assert stop["blockedFor"] == 2.0, "a 4.x stop of a running session holds the robot"


# -- the rule, as pure functions -----------------------------------------------------------------


def test_which_requests_stop_a_session() -> None:
    cancel = {"data": {"command": "protocol.cancel", "data": {}}}
    assert stop_target("DELETE", "/sessions/abc") == ("abc", "delete")
    assert stop_target("delete", "/sessions/a%20b") == ("a b", "delete")
    assert stop_target("POST", "/sessions/abc/commands/execute", cancel) == ("abc", "cancel")
    pause = {"data": {"command": "protocol.pause", "data": {}}}
    assert stop_target("POST", "/sessions/abc/commands/execute", pause) is None
    assert stop_target("GET", "/sessions/abc") is None
    assert stop_target("DELETE", "/protocols/abc") is None
    assert stop_target("DELETE", "/sessions") is None
    assert stops_paused_runs_safely({"name": "ot2-sim", "simulator": {"name": "ot2-sim"}})
    assert not stops_paused_runs_safely({"name": "opentrons-dev", "api_version": "4.7.0"})
    assert not stops_paused_runs_safely({"name": "ot2-sim"}), "a robot may have any name"


# -- every path, against a robot-like simulator -----------------------------------------------


def test_session_cancel_of_a_paused_run_resumes_it_first(
    robot_like: SimulatorHandle, robot: RobotClient
) -> None:
    session = paused_run(robot)
    session.cancel()
    assert session.refresh().state == "stopped", "the cancel answered once it was done"
    assert commands_after_pause(session) == [states.RESUME, states.CANCEL]
    assert_resumed_then_stopped(robot_like, session.id, "POST")


def test_session_delete_of_a_paused_run_resumes_it_first(
    robot_like: SimulatorHandle, robot: RobotClient
) -> None:
    session = paused_run(robot)
    final = session.delete()
    assert final.state == "stopped"
    assert commands_after_pause(final) == [states.RESUME]
    assert_resumed_then_stopped(robot_like, session.id, "DELETE")


def test_raw_requests_follow_the_rule_too(robot_like: SimulatorHandle, robot: RobotClient) -> None:
    session = paused_run(robot)
    robot.request(
        "POST",
        f"/sessions/{session.id}/commands/execute",
        json={"data": {"command": "protocol.cancel", "data": {}}},
    )
    assert robot.session(session.id).state == "stopped"
    assert_resumed_then_stopped(robot_like, session.id, "POST")


def test_ot2_cleanup_deletes_a_paused_session_safely(
    robot_like: SimulatorHandle, robot: RobotClient
) -> None:
    session = paused_run(robot)
    ledger = Ledger()  # what this notebook made: the protocol and its session
    stored = robot.protocol("slow")
    ledger.add_protocol(robot.base_url, "slow", created_stamp(stored.data.raw), "fingerprint")
    ledger.add_session(robot.base_url, session.id)
    report = cleanup(robot, ledger)
    assert report.sessions == [session.id] and report.protocols == ["slow"]
    assert robot.sessions() == [] and robot.protocols() == []
    assert_resumed_then_stopped(robot_like, session.id, "DELETE")


def test_the_run_panels_cancel_button_is_safe(
    robot_like: SimulatorHandle, robot: RobotClient
) -> None:
    from ot2_notebook.widgets import RunPanel

    session = paused_run(robot)
    panel = RunPanel(session, use_feed=False)
    try:
        panel.wait_for("paused", timeout=30)
        assert "cancel" in panel.enabled_buttons()
        panel.buttons["cancel"].click()
        assert panel.last_error is None, panel.last_error
        panel.wait_for("stopped", timeout=60)
    finally:
        panel.close()
    assert_resumed_then_stopped(robot_like, session.id, "POST")


def test_the_robot_panels_delete_button_is_safe(
    robot_like: SimulatorHandle, robot: RobotClient
) -> None:
    from ot2_notebook.widgets import RobotPanel

    session = paused_run(robot)
    panel = RobotPanel(robot)
    try:
        panel.delete_session(session.id)
        assert panel.last_error is None, panel.last_error
        assert [s.id for s in panel.sessions] == []
    finally:
        panel.close()
    assert_resumed_then_stopped(robot_like, session.id, "DELETE")


def test_ot2_sim_itself_is_sent_the_stop_directly(robot_url: str, clean_robot: None) -> None:
    with RobotClient(robot_url) as sim:
        assert sim.stop_guard.robot_stops_paused_runs_safely()
        protocol = sim.upload(
            (
                "pauses.py",
                'metadata = {"apiLevel": "2.11"}\ndef run(ctx):\n    ctx.pause("wait")\n',
            ),
            replace=True,
        )
        session = sim.create_session(protocol).wait_for("loaded")
        session.start()
        session.wait_for("paused")
        session.cancel()
        assert session.wait_for("stopped").state == "stopped"
        commands = [e.event for e in session.events if e.source == "sessionCommand"]
        assert commands == [states.START_RUN, states.CANCEL], "no resume first"
        session.delete()
        protocol.delete()


def test_a_run_that_will_not_resume_is_not_stopped() -> None:
    """A robot whose door is open ignores a resume (4.7's Session.resume). No such robot can
    run here: this stand-in answers as one would, and records what it was sent."""

    class DoorOpenRobot:
        timeout = 30.0

        def __init__(self) -> None:
            self.sent: list[str] = []

        def health(self) -> Any:
            return type("Health", (), {"raw": {"name": "lab-ot2", "api_version": "4.7.0"}})()

        def session_data(self, session_id: str) -> Any:
            return type("Data", (), {"state": "paused"})()

        def execute(self, session_id: str, command: str) -> None:
            self.sent.append(command)

    stand_in = DoorOpenRobot()
    guard = StopGuard(stand_in, resume_timeout=0.3)
    with pytest.raises(StopRefusedError) as refused:
        guard.prepare("DELETE", "/sessions/s1")
    assert stand_in.sent == [states.RESUME], "resumed once, never cancelled"
    text = str(refused.value)
    assert "Did not delete session s1: it is 'paused'" in text
    assert "did not resume within 0.3 s" in text and "door" in text
    assert "hangs robot software 4.x" in text


# -- riding out a robot that blocks while it stops a run ----------------------------------------


def test_watchers_and_waits_ride_out_a_long_block() -> None:
    """The stop holds the robot longer than the watcher's request timeout (10 s): it keeps
    polling and does not report the robot lost; a wait with a short client timeout too."""
    with start(port=0, robot_like=True, stop_delay=14.0, speed=1) as handle:
        with RobotClient(handle.url) as robot, RobotClient(handle.url, timeout=3.0) as impatient:
            protocol = robot.upload(("slow.py", SLOW))
            session = robot.create_session(protocol).wait_for("loaded")
            session.start()
            session.wait_for("running")
            errors: list[Exception] = []
            watcher = SessionWatcher(robot, session.id, on_error=errors.append, use_feed=False)
            waiter = Session(impatient, impatient.session_data(session.id))
            waited: list[str] = []
            thread = threading.Thread(
                target=lambda: waited.append(waiter.wait_for("stopped", timeout=60).state)
            )
            try:
                watcher.wait_for("running", timeout=10)
                thread.start()
                impatient.execute(session.id, states.CANCEL)  # blocks 14 s; its timeout is 120
                assert watcher.wait_for("stopped", timeout=40) == "stopped"
                thread.join(60)
            finally:
                watcher.close()
            assert errors == [], "the watcher reported a busy robot as lost"
            assert waited == ["stopped"]
            assert log_of(handle)["wouldDeadlock"] == []
