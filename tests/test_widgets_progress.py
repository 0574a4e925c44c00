"""RunTracker: the arithmetic behind the run panel (steps, runs, times), on plain data.

Snapshots are session JSON of the shape ot2-sim and 4.x robots send; the clock is a
variable so that times are exact. Live runs on a real simulator are in
test_widgets_run.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from ot2_notebook.client import SessionData
from ot2_notebook.client.models import StepEvent
from ot2_notebook.client.reconcile import load_total
from ot2_notebook.widgets.progress import LogEntry, RunTracker, run_starts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(source: str, name: str, command_id: str, second: float, text: str | None = None) -> dict:
    return {
        "source": source,
        "event": name,
        "commandId": command_id,
        "timestamp": f"2024-01-01T00:00:{second:09.6f}+00:00",
        "params": {"text": text} if text else None,
        "result": None,
    }


def snapshot(state: str, events: list[dict], errors: list[dict] | None = None) -> SessionData:
    data: dict[str, Any] = {
        "id": "s1",
        "sessionType": "protocol",
        "details": {"protocolId": "p", "currentState": state, "events": events},
    }
    if errors:
        data["details"]["errors"] = errors
    return SessionData.from_json(data)


LOAD = [
    event("protocol", "command.PICK_UP_TIP.start", "1", 0, "Picking up tip"),
    event("protocol", "command.PICK_UP_TIP.end", "1", 0),
    event("protocol", "command.ASPIRATE.start", "2", 0, "Aspirating"),
    event("protocol", "command.ASPIRATE.end", "2", 0),
    event("protocol", "command.DROP_TIP.start", "3", 0, "Dropping tip"),
    event("protocol", "command.DROP_TIP.end", "3", 0),
]


def step(command_id: str, index: int, phase: str = "start", text: str = "step") -> StepEvent:
    return StepEvent("s1", command_id, f"command.X.{phase}", text, index, 3)


def test_total_counts_the_load_simulation_steps_only() -> None:
    data = snapshot(
        "running",
        [
            *LOAD,
            event("sessionCommand", "protocol.startRun", "c1", 1),
            event("protocol", "command.PICK_UP_TIP.start", "4", 2, "Picking up tip"),
        ],
    )
    assert load_total(data.events) == 3
    steps = run_starts(data)
    assert [(s.command_id, s.index, s.total, s.text) for s in steps] == [
        ("4", 1, 3, "Picking up tip")
    ]


def test_snapshot_of_a_run_under_way() -> None:
    clock = Clock()
    tracker = RunTracker(estimated_duration=30.0, clock=clock)
    tracker.load_snapshot(
        snapshot(
            "running",
            [
                *LOAD,
                event("sessionCommand", "protocol.startRun", "c1", 10),
                event("protocol", "command.PICK_UP_TIP.start", "4", 11, "Picking up tip"),
                event("protocol", "command.PICK_UP_TIP.end", "4", 12),
                event("protocol", "command.ASPIRATE.start", "5", 16, "Aspirating"),
            ],
        )
    )
    assert (tracker.state, tracker.total, tracker.index) == ("running", 3, 2)
    assert tracker.current == "Aspirating" and tracker.run_active
    # the robot's own timestamps: the run has been going 6 s (16 - 10)
    assert tracker.elapsed() == pytest.approx(6.0)
    clock.now += 4
    assert tracker.elapsed() == pytest.approx(10.0)
    # 2 of 3 steps reached: a third of the 30 s estimate is left
    assert tracker.remaining() == pytest.approx(10.0)
    assert [e.plain() for e in tracker.log] == [
        "    1/3  Picking up tip",
        "    2/3  Aspirating",
        "         [running]",
    ]


def test_steps_and_states_of_a_live_run() -> None:
    clock = Clock()
    tracker = RunTracker(clock=clock)
    tracker.load_snapshot(snapshot("loaded", LOAD))
    assert (tracker.index, tracker.total, tracker.run_active) == (0, 3, False)
    assert tracker.elapsed() is None and tracker.remaining() is None

    tracker.on_state("loaded", "running", None)
    tracker.on_step(step("4", 1, text="Picking up tip"))
    tracker.on_step(step("4", 1, "end"))
    tracker.on_step(step("4", 1, text="Picking up tip"))  # a repeat changes nothing
    clock.now += 10
    tracker.on_step(step("5", 2, text="Aspirating"))
    assert (tracker.index, tracker.current) == (2, "Aspirating")
    # no estimate: from the pace so far (2 of 3 steps in 10 s -> 5 s left)
    assert tracker.remaining() == pytest.approx(5.0)

    tracker.on_state("running", "paused", None)
    clock.now += 100
    assert tracker.elapsed() == pytest.approx(110.0)
    assert tracker.running_time() == pytest.approx(10.0)
    tracker.on_state("paused", "running", None)
    clock.now += 2
    assert tracker.running_time() == pytest.approx(12.0)

    tracker.on_step(step("6", 3, text="Dropping tip"))
    tracker.on_state("running", "finished", None)
    assert (tracker.index, tracker.run_active, tracker.remaining()) == (3, False, None)
    clock.now += 50
    assert tracker.elapsed() == pytest.approx(112.0)  # frozen at the end of the run
    assert [e.plain().strip() for e in tracker.log][-4:] == [
        "[paused]",
        "[running]",
        "3/3  Dropping tip",
        "[finished]",
    ]


def test_a_second_run_starts_the_count_again() -> None:
    tracker = RunTracker(clock=Clock())
    tracker.load_snapshot(snapshot("loaded", LOAD))
    tracker.on_state("loaded", "running", None)
    for n, cid in enumerate(("4", "5", "6"), start=1):
        tracker.on_step(step(cid, n))
    tracker.on_state("running", "finished", None)
    # polling reports the steps of the next run before its state
    tracker.on_step(step("7", 1, text="again"))
    assert (tracker.runs, tracker.index, tracker.current) == (2, 1, "again")
    tracker.on_state("finished", "running", None)
    assert (tracker.runs, tracker.index) == (2, 1)  # the same run, not a third
    assert LogEntry("note", "run 2") in tracker.log


def test_cancel_and_error_are_remembered() -> None:
    tracker = RunTracker(clock=Clock())
    tracker.load_snapshot(snapshot("loaded", LOAD))
    tracker.on_state("loaded", "running", None)
    tracker.on_state("running", "stopped", None)
    assert tracker.cancelled and not tracker.run_active
    assert tracker.log[-1] == LogEntry("state", "stopped (cancelled)")

    failed = snapshot(
        "error",
        [*LOAD, event("sessionCommand", "protocol.startRun", "c1", 1)],
        errors=[
            {
                "type": "ExceptionInProtocolError",
                "description": "boom",
                "lineNumber": 4,
                "fileName": "p.py",
                "exceptionType": "RuntimeError",
            }
        ],
    )
    tracker = RunTracker(clock=Clock())
    tracker.load_snapshot(snapshot("loaded", LOAD))
    tracker.on_state("loaded", "running", None)
    tracker.on_state("running", "error", failed)
    assert tracker.error is not None and tracker.error.line == 4
    assert tracker.log[-1].kind == "error" and "boom" in tracker.log[-1].text


def test_log_keeps_the_newest_lines() -> None:
    tracker = RunTracker(log_limit=5, clock=Clock())
    tracker.on_state(None, "running", None)
    for n in range(1, 21):
        tracker.on_step(step(str(n), n, text=f"step {n}"))
    assert [e.text for e in tracker.log] == [f"step {n}" for n in range(16, 21)]
    with pytest.raises(ValueError, match="at least 1"):
        RunTracker(log_limit=0)


def test_a_new_run_is_seen_even_when_polling_missed_the_end_of_the_last() -> None:
    # A poll that folds running -> finished -> running reports no state change at all:
    # only the step count starting over tells that a new run began.
    tracker = RunTracker(clock=Clock())
    tracker.load_snapshot(snapshot("loaded", LOAD))
    tracker.on_state("loaded", "running", None)
    tracker.on_step(step("4", 1))
    tracker.on_step(step("5", 2))
    tracker.on_step(step("10", 1, text="next run"))
    assert (tracker.runs, tracker.index, tracker.current) == (2, 1, "next run")
    assert tracker.run_active
