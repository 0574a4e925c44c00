"""What a session watcher reports, decided by pure functions of what it already reported.

A :class:`~ot2_notebook.client.watcher.SessionWatcher` sees a session three ways:
``SessionState`` frames and ``ProtocolStep`` frames on the feed, and ``GET /sessions/{id}``
snapshots. The rules that keep its reports one chain of state changes, each step once, live
here, free of threads, sockets and clocks, so that they are tested directly:

* :func:`frame_effect`: a state frame follows on from the last reported state (report it),
  repeats it (ignore it), or leaves a gap: frames were missed, or it is older than a poll
  (re-read the session);
* :func:`poll_effect`: a polled state that differs from the last reported one is reported at
  once when polls are trusted, and otherwise held back until the feed had ``grace`` seconds
  to announce it;
* :func:`run_steps` and :func:`unreported_steps`: the steps of the latest run found in a
  snapshot, numbered, and which of them were not reported yet (the run panel's progress
  reads a snapshot with the same :func:`run_steps` and :func:`load_total`).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence

from ot2_notebook import session_states as states
from ot2_notebook.client.models import SessionEvent, StepEvent

__all__ = [
    "FrameEffect",
    "PollEffect",
    "frame_effect",
    "load_total",
    "poll_effect",
    "run_steps",
    "unreported_steps",
]


class FrameEffect(enum.Enum):
    """What a ``SessionState`` frame means, given the last reported state."""

    #: Nothing new: the state was already reported (a poll saw it first).
    IGNORE = "ignore"
    #: It follows on from the last reported state: report ``(previous, current)``.
    REPORT = "report"
    #: It does not follow on: re-read the session and report what it shows.
    RESYNC = "resync"


def frame_effect(last: str | None, previous: object, current: str) -> FrameEffect:
    """The effect of a frame ``previousState -> currentState`` after ``last`` was reported
    (``previous`` as the frame has it: a state, or anything a malformed frame holds)."""
    if current == last:
        return FrameEffect.IGNORE
    if previous == last:
        return FrameEffect.REPORT
    return FrameEffect.RESYNC


class PollEffect(enum.Enum):
    """What a polled state means, given the last reported state."""

    #: The same state as reported: nothing to do.
    SAME = "same"
    #: Report the change now.
    REPORT = "report"
    #: A change the feed may yet announce: start holding it back for ``grace`` s.
    HOLD = "hold"
    #: Still within the grace period: keep holding.
    WAIT = "wait"
    #: Held back for ``grace`` s and the feed never announced it: report it now.
    OVERDUE = "overdue"


def poll_effect(
    last: str | None,
    polled: str,
    *,
    trusted: bool,
    held_since: float | None,
    now: float,
    grace: float,
) -> PollEffect:
    """The effect of polling state ``polled`` after ``last`` was reported.

    ``trusted``: report what polls see at once (no live feed that may announce it). Else a
    difference may be a frame still on its way: it is held back from ``held_since`` (when the
    hold began, ``None`` if none) until ``grace`` s passed. The first state (``last`` is
    ``None``) is always reported at once.
    """
    if polled == last:
        return PollEffect.SAME
    if trusted or last is None:
        return PollEffect.REPORT
    if held_since is None:
        return PollEffect.HOLD
    if now - held_since >= grace:
        return PollEffect.OVERDUE
    return PollEffect.WAIT


def load_total(events: Sequence[SessionEvent]) -> int | None:
    """The number of steps the load-time simulation logged, before the first session command
    (``None`` when it logged none): a run's ``total``."""
    total = 0
    for event in events:
        if event.source == "sessionCommand":
            break
        if event.is_step_start:
            total += 1
    return total or None


def run_steps(session_id: str, events: Sequence[SessionEvent]) -> list[StepEvent]:
    """The protocol steps of the latest run in a session's ``details.events``, in order.

    The run is what follows the last ``protocol.startRun``; none (``[]``) before a run
    starts. ``index`` counts the run's steps from 1 in the order they started (a step's end
    has its start's index and text; a start has the structured data the robot sent with
    it, as on the feed); ``total`` is :func:`load_total`.
    """
    run_start = None
    for i, event in enumerate(events):
        if event.source == "sessionCommand" and event.event == states.START_RUN:
            run_start = i
    if run_start is None:
        return []
    total = load_total(events)
    numbers: dict[str | None, int] = {}
    texts: dict[str | None, str | None] = {}
    found: list[StepEvent] = []
    for event in events[run_start + 1 :]:
        if event.source != "protocol":
            continue
        index = numbers.setdefault(event.command_id, len(numbers) + 1)
        text = texts.setdefault(event.command_id, event.text)  # ends repeat their start's
        structured = event.structured if event.is_step_start else None  # as the feed's
        found.append(
            StepEvent(session_id, event.command_id, event.event, text, index, total, structured)
        )
    return found


def unreported_steps(
    found: Sequence[StepEvent], reported: Collection[tuple[str | None, str]], *, first_look: bool
) -> list[StepEvent]:
    """Which of a snapshot's ``found`` steps to report, given the keys already ``reported``
    (:attr:`StepEvent.key`, from the feed or earlier snapshots), each once, in order.

    On the ``first_look`` at a session only the newest step counts: the steps before it are
    history, not progress. The caller then holds every key of ``found`` as reported.
    """
    candidates = found[-1:] if first_look else found
    new: list[StepEvent] = []
    keys: set[tuple[str | None, str]] = set()
    for step in candidates:
        if step.key in reported or step.key in keys:
            continue
        keys.add(step.key)
        new.append(step)
    return new
