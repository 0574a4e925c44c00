"""RunPanel against real ot2-sim processes: live state, buttons, progress, log, errors.

The panel's buttons are clicked the way a browser's click arrives in the kernel
(``Button.click()`` runs the registered handlers), and what the robot did is checked with a
separate HTTP client. Widget state is read from the real ipywidgets objects; comm messages
are recorded with a comm class standing in for the kernel's (as ipywidgets' own tests do),
since no frontend is attached here. A real kernel is driven in test_widgets_kernel.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
import pytest

from ot2_notebook import session_states as states
from ot2_notebook.client import RobotClient, Session, SessionNotActiveError
from ot2_notebook.simulator import SimulatorHandle, start
from ot2_notebook.widgets import ErrorLocation, RunPanel, enabled_buttons, show_run
from tests.conftest import wait_until

PROTOCOLS = Path(__file__).resolve().parent / "protocols"

#: What the buttons must be in each state: written out, not derived from the table under test.
EXPECTED_ENABLED = {
    "stopped": set(),
    "loaded": {"start"},
    "running": {"pause", "cancel"},
    "paused": {"resume", "cancel"},
    "finished": {"start"},
    "error": set(),
}


def loaded_session(robot: RobotClient, name: str, *support: str) -> Session:
    protocol = robot.upload(PROTOCOLS / name, [PROTOCOLS / s for s in support], replace=True)
    return robot.create_session(protocol.id).wait_for("loaded", timeout=60)


def robot_state(url: str, session_id: str) -> str:
    """The session's state as the robot reports it, read with a client of its own."""
    with RobotClient(url) as other:
        return other.session_data(session_id).state


def wait_robot_state(url: str, session_id: str, state: str, timeout: float = 30) -> None:
    wait_until(
        lambda: robot_state(url, session_id) == state,
        timeout=timeout,
        message=lambda: f"the robot never reached {state!r}: {robot_state(url, session_id)!r}",
    )


def assert_buttons(panel: RunPanel, state: str) -> None:
    assert panel.state == state
    assert panel.enabled_buttons() == EXPECTED_ENABLED[state], state
    for name, button in panel.buttons.items():
        assert button.disabled is (name not in EXPECTED_ENABLED[state]), (state, name)


def step_lines(panel: RunPanel) -> list[str]:
    return [e.plain().strip() for e in panel.tracker.log if e.kind == "step"]


@pytest.fixture
def robot(robot_url: str, clean_robot: None) -> Iterator[RobotClient]:
    with RobotClient(robot_url) as client:
        yield client


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimulatorHandle]:
    """Runs paced at robot time / 5: slow_steps.py (30 delays of 2 s) lasts about 12 s."""
    with start(port=0, max_protocols=10, speed=5.0, analysis_timeout=30) as handle:
        yield handle


@pytest.fixture
def slow_robot(slow_sim: SimulatorHandle) -> Iterator[RobotClient]:
    with RobotClient(slow_sim.url) as client:
        yield client
        for session in client.sessions():
            client.delete_session(session.id)
        for protocol in client.protocols():
            client.delete_protocol(protocol.id)


@pytest.fixture
def panels() -> Iterator[list[RunPanel]]:
    """Panels to close after the test (threads must not outlive it)."""
    made: list[RunPanel] = []
    yield made
    for panel in made:
        panel.close()
    for panel in made:
        assert panel.threads == []


# -- buttons and the state machine -------------------------------------------------------------


def test_enabled_buttons_match_the_shared_state_table_in_every_state() -> None:
    assert set(EXPECTED_ENABLED) == set(states.STATES)
    for state in states.STATES:
        assert enabled_buttons(state) == EXPECTED_ENABLED[state]
    assert enabled_buttons(None) == enabled_buttons("no such state") == frozenset()


def test_buttons_while_loading_and_after_loading(
    robot: RobotClient, panels: list[RunPanel]
) -> None:
    protocol = robot.upload(PROTOCOLS / "slow_load.py")  # its load takes 1.5 s
    session = robot.create_session(protocol.id)
    panel = RunPanel(session)
    panels.append(panel)
    assert_buttons(panel, "stopped")
    assert panel.text().splitlines()[1] == "  state: stopped (loading)"
    assert "loading" in panel.state_view.value
    panel.wait_for("loaded", 30)
    assert_buttons(panel, "loaded")


def test_pause_and_resume_by_clicking_change_the_robot_state(
    slow_sim: SimulatorHandle, slow_robot: RobotClient, panels: list[RunPanel]
) -> None:
    session = loaded_session(slow_robot, "slow_steps.py")
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    assert_buttons(panel, "loaded")

    panel.buttons["start"].click()
    wait_robot_state(slow_sim.url, session.id, "running")
    panel.wait_for("running", 30)
    assert_buttons(panel, "running")
    wait_until(lambda: panel.tracker.index >= 1, message="no step reached the panel")

    panel.buttons["pause"].click()
    wait_robot_state(slow_sim.url, session.id, "paused")
    panel.wait_for("paused", 30)
    assert_buttons(panel, "paused")
    assert panel.progress.bar_style == "warning"

    panel.buttons["resume"].click()
    wait_robot_state(slow_sim.url, session.id, "running")
    panel.wait_for("running", 30)
    assert_buttons(panel, "running")
    reached = panel.tracker.index
    wait_until(lambda: panel.tracker.index > reached, message="the run did not go on")

    panel.buttons["cancel"].click()
    wait_robot_state(slow_sim.url, session.id, "stopped")
    panel.wait_for("stopped", 30)
    assert_buttons(panel, "stopped")
    assert panel.text().splitlines()[1] == "  state: stopped (cancelled)"
    assert "cancelled" in panel.state_view.value
    # nothing more can happen to a cancelled session: the panel's threads end by themselves
    wait_until(lambda: panel.threads == [], message=lambda: f"threads left: {panel.threads}")
    log = [e.plain().strip() for e in panel.tracker.log]
    for expected in (
        "startRun sent",
        "pause sent",
        "resume sent",
        "cancel sent",
        "[paused]",
        "[stopped (cancelled)]",
    ):
        assert expected in log
    assert panel.last_error is None


def test_progress_and_log_after_a_real_run(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(robot, "moves.py")
    panel = show_run(session, display=False)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    assert (panel.progress.value, panel.progress.max) == (0, 62)
    assert "step 0 of 62" in panel.progress_text.value

    panel.buttons["start"].click()
    panel.wait_for("finished", 60)

    assert (panel.progress.value, panel.progress.max) == (62, 62)
    assert panel.progress.bar_style == "success"
    assert "step 62 of 62" in panel.progress_text.value
    lines = step_lines(panel)
    assert len(lines) == 62
    assert [line.split()[0] for line in lines] == [f"{n}/62" for n in range(1, 63)]
    assert lines[0] == "1/62  Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 2"
    assert lines[1].startswith("2/62  Moving to A1 of Corning 96 Well Plate 360 µL Flat on 1")
    assert lines[-1] == "62/62  Dropping tip into A1 of Opentrons Fixed Trash on 12"
    assert "62/62  Dropping tip into A1" in panel.log_view.value
    assert "Last step:</b> Dropping tip into A1" in panel.step_view.value
    assert "ran for" in panel.time_view.value
    assert panel.text() == "\n".join(
        [
            "RunPanel: Moves (moves)",
            "  state: finished",
            "  progress: step 62 of 62",
            "  last step: Dropping tip into A1 of Opentrons Fixed Trash on 12",
            "  enabled: start",
        ]
    )
    assert_buttons(panel, "finished")
    # the robot agrees the run finished with every step
    assert len(robot.session(session.id).steps) == 62 + 62  # load simulation + run


def test_progress_when_the_robot_publishes_no_session_events(
    start_sim: Callable[..., SimulatorHandle], panels: list[RunPanel]
) -> None:
    handle = start_sim(session_events=False, max_protocols=2)
    with RobotClient(handle.url) as robot:
        session = loaded_session(
            robot, "serial_dilution.py", "dilution_helpers.py", "dilution_settings.json"
        )
        panel = RunPanel(session, watcher_options={"max_interval": 0.3})
        panels.append(panel)
        panel.wait_for("loaded", 30)
        panel.buttons["start"].click()
        panel.wait_for("finished", 60)
        assert panel.watcher is not None and panel.watcher.mode == "polling"
        assert (panel.progress.value, panel.progress.max) == (12, 12)
        assert [line.split()[0] for line in step_lines(panel)] == [f"{n}/12" for n in range(1, 13)]
        assert_buttons(panel, "finished")


def test_a_second_run_from_the_panel(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(
        robot, "serial_dilution.py", "dilution_helpers.py", "dilution_settings.json"
    )
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    panel.buttons["start"].click()
    panel.wait_for("finished", 60)
    first = step_lines(panel)
    panel.buttons["start"].click()
    # the panel shows the first run's "finished" until it has drawn the second run
    panel.wait_for("finished", 60, run=2)
    assert (panel.progress.value, panel.progress.max) == (12, 12)
    lines = step_lines(panel)
    assert len(lines) == 24 and lines[12:] == first
    assert "run 2" in [e.text for e in panel.tracker.log]


# -- errors --------------------------------------------------------------------------------------


def test_run_error_with_type_message_and_line(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(robot, "fails_on_robot.py")
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    panel.buttons["start"].click()
    panel.wait_for("error", 60)
    assert_buttons(panel, "error")
    assert panel.progress.bar_style == "danger"
    assert "<b>fails_on_robot.py, line 10</b>: RuntimeError: the tip rack is empty" in (
        panel.error_view.value
    )
    assert panel.text().splitlines()[-1] == (
        "  error: fails_on_robot.py, line 10: RuntimeError: the tip rack is empty"
    )
    wait_until(lambda: panel.threads == [], message=lambda: f"threads left: {panel.threads}")


def test_run_error_placed_in_a_notebook_cell(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(robot, "fails_on_robot.py")
    seen = []

    def locate(error: Any) -> ErrorLocation:
        seen.append(error)
        return ErrorLocation(
            "In [7]",
            error.line - 4,
            '        raise RuntimeError("the tip rack is empty")',
            error.description,
            error.exception_type,
        )

    panel = RunPanel(session, locate_error=locate)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    panel.buttons["start"].click()
    panel.wait_for("error", 60)
    assert seen and seen[0].file == "fails_on_robot.py" and seen[0].line == 10
    assert "<b>In [7], line 6</b>: RuntimeError: the tip rack is empty" in panel.error_view.value
    assert "<pre>        raise RuntimeError(&quot;the tip rack is empty&quot;)</pre>" in (
        panel.error_view.value
    )
    assert panel.text().splitlines()[-2:] == [
        "  error: In [7], line 6: RuntimeError: the tip rack is empty",
        '      raise RuntimeError("the tip rack is empty")',
    ]


def test_a_failing_click_is_shown_in_the_panel_and_logged(
    robot: RobotClient, panels: list[RunPanel], caplog: pytest.LogCaptureFixture
) -> None:
    session = loaded_session(robot, "moves.py")
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    robot.create_session("moves").wait_for("loaded", 60)  # now the panel's is not active
    with caplog.at_level(logging.WARNING, logger="ot2_notebook.widgets"):
        panel.buttons["start"].click()
    assert isinstance(panel.last_error, SessionNotActiveError)
    assert "ot2-error-box" in panel.message_view.value
    assert "startRun failed" in panel.message_view.value
    assert "not active" in panel.message_view.value
    assert any("protocol.startRun failed" in r.getMessage() for r in caplog.records)
    assert panel.tracker.log[-1].kind == "error"
    assert robot_state(robot.base_url, session.id) == "loaded"  # nothing happened


def test_a_click_the_state_does_not_allow_is_not_sent(
    robot: RobotClient, panels: list[RunPanel]
) -> None:
    session = loaded_session(robot, "moves.py")
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    # a click that arrives after the state changed (the browser showed an older state)
    panel.buttons["pause"].click()
    assert "pause is not possible while the session is &#x27;loaded&#x27;" in (
        panel.message_view.value
    )
    assert panel.last_error is None
    assert not any(e.source == "sessionCommand" for e in robot.session(session.id).events)


def test_a_deleted_session_disables_everything(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(robot, "moves.py")
    panel = RunPanel(session)
    panels.append(panel)
    panel.wait_for("loaded", 30)
    robot.delete_session(session.id)
    panel.wait_for("deleted", 30)
    assert panel.enabled_buttons() == frozenset()
    assert "deleted" in panel.message_view.value
    wait_until(lambda: panel.threads == [], message=lambda: f"threads left: {panel.threads}")


def test_losing_the_robot_is_shown_and_close_still_returns(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    handle = start_sim(max_protocols=1)
    with RobotClient(handle.url) as robot:
        panel = RunPanel(loaded_session(robot, "moves.py"))
        panel.wait_for("loaded", 30)
        handle.stop()
        wait_until(
            lambda: "Lost contact with the robot" in panel.message_view.value,
            message=lambda: f"no sign of the lost robot: {panel.message_view.value!r}",
        )
        assert "ot2-error-box" in panel.message_view.value
        assert panel.enabled_buttons() == {"start"}  # the last state known, still shown
        threads = panel.threads
        panel.close()
        assert all(not t.is_alive() for t in threads)


# -- threads, updates and text --------------------------------------------------------------------


class RecordingComm(comm.DummyComm):
    """A comm that records what a widget publishes, and from which thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.sent.append((threading.current_thread().name, msg_type, data or {}))


def test_updates_from_the_background_are_published_on_the_widgets_comms(
    slow_robot: RobotClient, panels: list[RunPanel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    session = loaded_session(slow_robot, "slow_steps.py")  # 0.4 s per step
    panel = RunPanel(session)
    panels.append(panel)
    assert isinstance(panel.progress.comm, RecordingComm)
    panel.wait_for("loaded", 30)
    assert (panel.progress.value, panel.progress.max) == (0, 30)
    panel.buttons["start"].click()
    # From here on this (main) thread only reads: every redraw comes from the panel's threads.
    wait_until(lambda: panel.progress.value >= 3, message="the progress never reached 3")
    panel.buttons["cancel"].click()

    updates = [
        (thread, data["state"])
        for thread, kind, data in panel.progress.comm.sent
        if kind == "comm_msg" and data.get("method") == "update"
    ]
    by_value = {state["value"]: thread for thread, state in updates if "value" in state}
    assert {2, 3} <= set(by_value)
    assert by_value[2].startswith("ot2-render") and by_value[3].startswith("ot2-render")
    state_updates = [
        (thread, state["value"])
        for thread, kind, data in panel.state_view.comm.sent
        if kind == "comm_msg" and "value" in (state := data.get("state", {}))
    ]
    assert any("running" in value for _, value in state_updates)
    panel.wait_for("stopped", 30)


def test_a_newer_panel_retires_the_older_one(robot: RobotClient, panels: list[RunPanel]) -> None:
    session = loaded_session(robot, "moves.py")
    old = RunPanel(session)
    panels.append(old)
    old.wait_for("loaded", 30)
    assert len(old.threads) == 3  # watcher, feed, renderer
    new = RunPanel(session)  # the cell was run again
    panels.append(new)
    assert old.retired and not new.retired
    wait_until(lambda: old.threads == [], message=lambda: f"threads left: {old.threads}")
    assert old.enabled_buttons() == frozenset()
    assert "newer panel" in old.message_view.value
    new.wait_for("loaded", 30)
    assert new.enabled_buttons() == {"start"}

    # a panel of a finished session steps aside when a newer session gets a panel
    new.buttons["start"].click()
    new.wait_for("finished", 60)
    newest = RunPanel(robot.create_session("moves"))
    panels.append(newest)
    assert new.retired and "only the newest is active" in new.text()
    wait_until(lambda: new.threads == [], message=lambda: f"threads left: {new.threads}")


def test_a_loaded_session_panel_steps_aside_for_a_newer_session(
    robot: RobotClient, panels: list[RunPanel]
) -> None:
    old = RunPanel(loaded_session(robot, "moves.py"))
    panels.append(old)
    old.wait_for("loaded", 30)
    newer = RunPanel(robot.create_session("moves"))
    panels.append(newer)
    assert old.retired and not newer.retired
    wait_until(lambda: old.threads == [], message=lambda: f"threads left: {old.threads}")
    assert old.enabled_buttons() == frozenset()
    old.buttons["start"].click()  # a click that was already on its way
    assert "is not available here" in old.message_view.value


def test_close_joins_every_thread(robot: RobotClient) -> None:
    before = {t.ident for t in threading.enumerate()}
    session = loaded_session(robot, "moves.py")
    panel = RunPanel(session)
    panel.wait_for("loaded", 30)
    threads = panel.threads
    assert len(threads) == 3
    panel.close()
    assert all(not t.is_alive() for t in threads)
    assert {t.ident for t in threading.enumerate()} <= before
    assert panel.comm is None and panel.progress.comm is None


def test_a_panel_of_a_finished_run_has_a_deterministic_text(robot: RobotClient) -> None:
    session = loaded_session(robot, "fails_on_robot.py")
    session.start()
    with pytest.raises(Exception, match="tip rack is empty"):
        session.wait_for("finished", 60)
    texts = []
    for watch in (False, True):
        panel = RunPanel(robot.session(session.id), watch=watch)
        texts.append(panel.text())
        assert panel.threads == []  # an ended session needs no watching
        panel.close()
    assert (
        texts[0]
        == texts[1]
        == "\n".join(
            [
                "RunPanel: Fails on robot (fails_on_robot)",
                "  state: error",
                "  progress: step 1 of 2",
                "  last step: Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 2",
                "  enabled: none",
                "  error: fails_on_robot.py, line 10: RuntimeError: the tip rack is empty",
            ]
        )
    )


def test_wait_for_names_the_state_it_is_stuck_in(
    robot: RobotClient, panels: list[RunPanel]
) -> None:
    panel = RunPanel(loaded_session(robot, "moves.py"))
    panels.append(panel)
    panel.wait_for("loaded", 30)
    with pytest.raises(TimeoutError, match="shows 'loaded'"):
        panel.wait_for("finished", timeout=0.2)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="needs a Session"):
        RunPanel("session-id")  # type: ignore[arg-type]
