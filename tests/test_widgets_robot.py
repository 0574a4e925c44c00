"""RobotPanel on a real ot2-sim: health, protocols and sessions, deleting by clicking."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ot2_notebook.client import RobotClient, RobotUnreachableError
from ot2_notebook.widgets import RobotPanel, show_robot

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


@pytest.fixture
def robot(robot_url: str, clean_robot: None) -> Iterator[RobotClient]:
    with RobotClient(robot_url) as client:
        for session in client.sessions():  # start from an empty robot
            client.delete_session(session.id)
        for protocol in client.protocols():
            client.delete_protocol(protocol.id)
        yield client


def test_health_protocols_and_sessions(robot: RobotClient) -> None:
    robot.upload(PROTOCOLS / "magnetic_module.py")
    robot.upload(PROTOCOLS / "raises.py", raise_on_error=False)
    session = robot.create_session("magnetic_module").wait_for("loaded", 60)
    panel = show_robot(robot, display=False)
    assert {"ot2-panel", "ot2-robot-panel"} <= set(panel._dom_classes)
    assert "ot2-sim" in panel.health_view.value and "4.7.0" in panel.health_view.value
    assert robot.base_url in panel.health_view.value
    rows = panel.protocols_view.children
    assert [("ot2-protocol-row" in r._dom_classes) for r in rows] == [True, True]
    assert "magnetic_module" in rows[0].children[0].value
    assert "1 error(s)" in rows[1].children[0].value
    assert "ot2-btn-delete-protocol" in rows[0].children[1]._dom_classes
    session_rows = panel.sessions_view.children
    assert len(session_rows) == 1 and session.id in session_rows[0].children[0].value
    assert panel.text() == "\n".join(
        [
            "RobotPanel: ot2-sim (robot software 4.7.0, protocol API 2.0 to 2.27)",
            "  protocols (2):",
            "    magnetic_module: Magnetic module (ok)",
            "    raises: Raises (1 error(s))",
            "  sessions (1):",
            "    magnetic_module: loaded",
        ]
    )


def test_delete_buttons_delete_on_the_robot(robot: RobotClient) -> None:
    robot.upload(PROTOCOLS / "magnetic_module.py")
    session = robot.create_session("magnetic_module").wait_for("loaded", 60)
    panel = RobotPanel(robot)

    session_row = panel.sessions_view.children[0]
    session_row.children[1].click()
    assert [s.id for s in robot.sessions()] == []
    (placeholder,) = panel.sessions_view.children
    assert "none" in placeholder.value and session.id not in placeholder.value
    assert f"Deleted session {session.id}." in panel.message_view.value

    panel.protocols_view.children[0].children[1].click()
    assert robot.protocols() == []
    assert panel.text().splitlines()[1:] == ["  protocols: none", "  sessions: none"]
    # the rows replaced were closed, not left behind in the widget registry
    assert session_row.comm is None and session_row.children[1].comm is None


def test_refresh_shows_what_changed(robot: RobotClient) -> None:
    panel = RobotPanel(robot)
    assert "  protocols: none" in panel.text()
    robot.upload(PROTOCOLS / "magnetic_module.py")
    panel.refresh_button.click()
    assert "    magnetic_module: Magnetic module (ok)" in panel.text()


def test_a_failed_delete_is_shown_and_logged(
    robot: RobotClient, caplog: pytest.LogCaptureFixture
) -> None:
    robot.upload(PROTOCOLS / "magnetic_module.py")
    panel = RobotPanel(robot)
    robot.delete_protocol("magnetic_module")  # gone behind the panel's back
    with caplog.at_level(logging.WARNING, logger="ot2_notebook.widgets"):
        panel.protocols_view.children[0].children[1].click()
    assert panel.last_error is not None and panel.last_error.status == 404
    assert "Could not delete protocol &#x27;magnetic_module&#x27;" in panel.message_view.value
    assert "ot2-error-box" in panel.message_view.value
    assert any("Could not delete" in r.getMessage() for r in caplog.records)


def test_an_unreachable_robot_is_shown_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="ot2_notebook.widgets"):
        panel = RobotPanel(RobotClient(f"http://127.0.0.1:{port}", timeout=2))
    assert isinstance(panel.last_error, RobotUnreachableError)
    assert panel.text().splitlines()[0] == "RobotPanel: robot not reachable"
    assert "Could not read the robot" in panel.message_view.value
    assert caplog.records


def test_bad_argument() -> None:
    with pytest.raises(TypeError, match="needs a RobotClient"):
        RobotPanel("http://127.0.0.1:31950")  # type: ignore[arg-type]
