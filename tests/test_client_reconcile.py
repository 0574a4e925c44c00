"""The session watcher's reconciliation rules, tested directly (no threads, no robot).

What a ``SessionState`` frame means after what was reported, what a poll means while the
feed may still announce it, which steps of a run a ``GET`` snapshot holds, and which of
them were not reported yet. The watcher's behaviour against real simulators, with the feed
on, off and cut, is in ``test_notifications.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from ot2_notebook.client.models import SessionEvent, StepEvent
from ot2_notebook.client.reconcile import (
    FrameEffect,
    PollEffect,
    frame_effect,
    poll_effect,
    run_steps,
    unreported_steps,
)

# -- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "previous", "current", "effect"),
    [
        ("loaded", "loaded", "running", FrameEffect.REPORT),  # follows on
        ("running", "running", "paused", FrameEffect.REPORT),
        ("running", "loaded", "running", FrameEffect.IGNORE),  # a poll saw it first
        ("paused", "running", "paused", FrameEffect.IGNORE),
        ("loaded", "running", "paused", FrameEffect.RESYNC),  # loaded -> running was missed
        ("finished", "running", "paused", FrameEffect.RESYNC),  # older than a poll
        ("loaded", None, "running", FrameEffect.RESYNC),  # a frame without its previous state
        (None, None, "stopped", FrameEffect.REPORT),
    ],
)
def test_frame_effect(
    last: str | None, previous: object, current: str, effect: FrameEffect
) -> None:
    assert frame_effect(last, previous, current) is effect


# -- polls ----------------------------------------------------------------------------------


def poll(
    last: str | None,
    polled: str,
    *,
    trusted: bool = False,
    held_since: float | None = None,
    now: float = 100.0,
) -> PollEffect:
    return poll_effect(last, polled, trusted=trusted, held_since=held_since, now=now, grace=0.5)


def test_a_poll_of_the_reported_state_changes_nothing() -> None:
    assert poll("running", "running") is PollEffect.SAME
    assert poll("running", "running", trusted=True) is PollEffect.SAME
    assert poll("running", "running", held_since=99.0) is PollEffect.SAME


def test_trusted_polls_and_the_first_state_are_reported_at_once() -> None:
    assert poll("loaded", "running", trusted=True) is PollEffect.REPORT
    assert poll(None, "stopped") is PollEffect.REPORT  # untrusted, but nothing reported yet


def test_an_untrusted_change_is_held_for_the_grace_period_then_reported() -> None:
    assert poll("loaded", "running") is PollEffect.HOLD
    assert poll("loaded", "running", held_since=100.0, now=100.2) is PollEffect.WAIT
    assert poll("loaded", "running", held_since=100.0, now=100.499) is PollEffect.WAIT
    assert poll("loaded", "running", held_since=100.0, now=100.5) is PollEffect.OVERDUE
    assert poll("loaded", "finished", held_since=100.0, now=107.0) is PollEffect.OVERDUE


# -- steps in a snapshot ----------------------------------------------------------------------


def command(name: str, command_id: str) -> SessionEvent:
    return SessionEvent("sessionCommand", name, command_id, None, None)


def step(command_id: str, phase: str, text: str | None, kind: str = "ASPIRATE") -> SessionEvent:
    return SessionEvent("protocol", f"command.{kind}.{phase}", command_id, None, text)


def simulated(*ids: str) -> list[SessionEvent]:
    """The load-time simulation's steps (before any session command)."""
    events = []
    for command_id in ids:
        events += [step(command_id, "start", f"sim {command_id}"), step(command_id, "end", None)]
    return events


def keys(steps: Iterable[StepEvent]) -> list[tuple[str | None, str]]:
    return [s.key for s in steps]


def test_no_run_no_steps() -> None:
    assert run_steps("s1", []) == []
    assert run_steps("s1", simulated("a", "b")) == []
    assert run_steps("s1", [*simulated("a"), command("protocol.startSimulate", "c1")]) == []


def test_the_steps_of_a_run_are_numbered_with_the_simulations_total() -> None:
    events = [
        *simulated("a", "b", "c"),
        command("protocol.startRun", "run1"),
        step("r1", "start", "Aspirating 10 uL"),
        step("r1", "end", None),
        command("protocol.pause", "p1"),  # session commands inside the run are not steps
        command("protocol.resume", "p2"),
        step("r2", "start", "Dispensing 10 uL", "DISPENSE"),
    ]
    found = run_steps("s1", events)
    assert [(s.command_id, s.phase, s.index, s.total) for s in found] == [
        ("r1", "start", 1, 3),
        ("r1", "end", 1, 3),
        ("r2", "start", 2, 3),
    ]
    assert [s.text for s in found] == ["Aspirating 10 uL", "Aspirating 10 uL", "Dispensing 10 uL"]
    assert found[2].step_name == "DISPENSE" and {s.session_id for s in found} == {"s1"}


def test_only_the_latest_run_counts_and_the_total_is_unknown_without_a_simulation() -> None:
    events = [
        command("protocol.startRun", "run1"),
        step("r1", "start", "first run"),
        step("r1", "end", None),
        command("protocol.startRun", "run2"),
        step("r9", "start", "second run"),
    ]
    found = run_steps("s1", events)
    assert [(s.command_id, s.index, s.total, s.text) for s in found] == [
        ("r9", 1, None, "second run")
    ]


def test_on_the_first_look_only_the_newest_step_is_news() -> None:
    found = run_steps(
        "s1",
        [
            command("protocol.startRun", "run1"),
            step("r1", "start", "one"),
            step("r1", "end", None),
            step("r2", "start", "two"),
        ],
    )
    assert keys(unreported_steps(found, set(), first_look=True)) == [
        ("r2", "command.ASPIRATE.start")
    ]
    assert unreported_steps([], set(), first_look=True) == []


def test_later_looks_report_what_neither_the_feed_nor_a_snapshot_reported() -> None:
    found = run_steps(
        "s1",
        [
            command("protocol.startRun", "run1"),
            step("r1", "start", "one"),
            step("r1", "end", None),
            step("r2", "start", "two"),
            step("r2", "end", None),
        ],
    )
    reported = {("r1", "command.ASPIRATE.start"), ("r2", "command.ASPIRATE.start")}
    assert keys(unreported_steps(found, reported, first_look=False)) == [
        ("r1", "command.ASPIRATE.end"),
        ("r2", "command.ASPIRATE.end"),
    ]
    everything = set(keys(found))
    assert unreported_steps(found, everything, first_look=False) == []


def test_a_step_logged_twice_is_reported_once() -> None:
    twice = StepEvent("s1", "r1", "command.ASPIRATE.start", "one", 1, None)
    assert unreported_steps([twice, twice], set(), first_look=False) == [twice]


def test_feed_steps_parse_like_the_simulator_sends_them() -> None:
    parsed = StepEvent.from_feed(
        "s1",
        {
            "type": "ProtocolStep",
            "sessionId": "s1",
            "commandId": 7,
            "event": "command.PICK_UP_TIP.start",
            "text": "Picking up tip",
            "index": 2,
            "total": True,  # not a number: unknown
        },
    )
    assert parsed == StepEvent("s1", "7", "command.PICK_UP_TIP.start", "Picking up tip", 2, None)
    assert parsed.phase == "start" and parsed.step_name == "PICK_UP_TIP"
    assert StepEvent.from_feed("s1", {}) == StepEvent("s1", None, "", None, None, None)
