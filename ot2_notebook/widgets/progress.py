"""A run's progress as plain data: state, steps reached, current step, log, error, timing.

:class:`RunTracker` is what :class:`~ot2_notebook.widgets.run.RunPanel` draws. It is fed by
a :class:`~ot2_notebook.client.watcher.SessionWatcher` (state changes and steps) and by
whole session snapshots (``GET /sessions/{id}``), and knows nothing of widgets or threads:
the panel serialises calls to it under its own lock.

Counting steps. A session's ``events`` start with the steps of the load-time simulation
(before the first session command): their number of ``.start`` events is the total of a
run. The steps of the current run follow the last ``protocol.startRun``; a step's index
counts its distinct command ids from 1, as the feed's ``ProtocolStep.index`` does (the
counting is the watcher's own, :mod:`ot2_notebook.client.reconcile`). A step "reached" has
started; when the run finishes every step has been reached.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ot2_notebook import session_states as states
from ot2_notebook.client.models import ProtocolErrorInfo, SessionData, SessionEvent, StepEvent
from ot2_notebook.client.reconcile import load_total, run_steps
from ot2_notebook.widgets.steptime import StepTiming, step_timing

__all__ = ["LogEntry", "RunTracker", "run_starts"]


@dataclass(frozen=True)
class LogEntry:
    """One line of the run log: a step (``kind="step"``), a state change, a note or an
    error."""

    kind: str
    text: str
    index: int | None = None
    total: int | None = None

    def plain(self) -> str:
        if self.kind == "step":
            counter = f"{self.index}/{self.total}" if self.total else f"{self.index}"
            return f"{counter:>7}  {self.text}"
        if self.kind == "state":
            return f"{'':>7}  [{self.text}]"
        return f"{'':>7}  {self.text}"


def _step_text(name: str, text: str | None) -> str:
    return text if text else name


def run_starts(data: SessionData) -> list[StepEvent]:
    """The step starts of the session's latest run, indexed from 1 as the feed indexes them
    (empty when no run was started)."""
    return [s for s in run_steps(data.id, data.events) if s.phase == "start"]


class RunTracker:
    """The state of one session's run, as the panel shows it (see the module doc).

    ``estimated_duration`` (seconds, from the protocol's analysis) drives the remaining
    time; without it the remaining time follows the pace of the steps so far. ``pace`` is how
    many seconds of robot time pass per second (1 on a robot; a simulated robot started with
    ``--speed X`` runs at X): the estimate and the length of a delay are robot time.
    ``clock`` is injectable for tests of the timing arithmetic.
    """

    def __init__(
        self,
        estimated_duration: float | None = None,
        *,
        log_limit: int = 200,
        pace: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if log_limit < 1:
            raise ValueError(f"log_limit must be at least 1, not {log_limit!r}.")
        if not pace > 0:
            raise ValueError(f"pace must be a positive number, not {pace!r}.")
        self.estimated_duration = estimated_duration
        self.pace = float(pace)
        self.clock = clock
        self.state: str | None = None
        #: Steps in a run (from the load simulation, or the feed's ``total``).
        self.total: int | None = None
        #: Steps of the current (or last) run that have started.
        self.index = 0
        self.current: str | None = None
        self.error: ProtocolErrorInfo | None = None
        self.runs = 0
        self.cancelled = False
        self.gone = False
        self.log: deque[LogEntry] = deque(maxlen=log_limit)
        self._seen: set[str | None] = set()
        self._run_active = False
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._paused_since: float | None = None
        self._paused_total = 0.0
        # When the current step started (our clock), and the paused time before it.
        self._step_started_at: float | None = None
        self._step_paused_before = 0.0

    # -- feeding -----------------------------------------------------------------------------

    def load_snapshot(self, data: SessionData) -> None:
        """Start over from a whole session (the panel's first look, or a resync)."""
        now = self.clock()
        self.state = data.state
        self.total = load_total(data.events) or self.total
        steps = run_starts(data)
        self.runs = sum(
            1 for e in data.events if e.source == "sessionCommand" and e.event == states.START_RUN
        )
        self.cancelled = any(
            e.source == "sessionCommand" and e.event == states.CANCEL for e in data.events
        )
        self.error = data.error
        self.index = max((s.index or 0 for s in steps), default=0)
        self.current = _step_text(steps[-1].step_name, steps[-1].text) if steps else None
        self._seen = {s.command_id for s in steps}
        self.log.clear()
        for step in steps:
            self.log.append(
                LogEntry("step", _step_text(step.step_name, step.text), step.index, self.total)
            )
        self.log.append(LogEntry("state", data.state))
        if data.error is not None:
            self.log.append(LogEntry("error", str(data.error)))
        self._run_active = data.state in (states.RUNNING, states.PAUSED)
        if data.state == states.FINISHED and self.total:
            self.index = self.total
        # Timing of a run already under way or over, from the robot's own timestamps (its
        # clock may differ from ours: only differences between its timestamps are used).
        self._started_at = self._ended_at = self._paused_since = None
        self._paused_total = 0.0
        started = _last_start_time(data.events)
        last = max((e.timestamp for e in data.events if e.timestamp), default=None)
        if started is not None and last is not None and self.runs:
            so_far = max(0.0, (last - started).total_seconds())
            self._started_at = now - so_far
            if data.state in states.RUN_ENDED_STATES or data.state == states.LOADED:
                self._ended_at = now
            elif data.state == states.PAUSED:
                self._paused_since = now
        self._step_started_at = None
        self._step_paused_before = 0.0
        step_time = _step_start_time(data.events, steps[-1].command_id) if steps else None
        if step_time is not None and last is not None and self._run_active:
            self._step_started_at = now - max(0.0, (last - step_time).total_seconds())

    def on_state(self, previous: str | None, current: str, snapshot: SessionData | None) -> None:
        """A state change reported by the watcher (``snapshot``: its latest ``GET``)."""
        now = self.clock()
        self.state = current
        if self.total is None and snapshot is not None:
            self.total = load_total(snapshot.events)
        if current == states.RUNNING:
            if not self._run_active:
                self._new_run(now)
            if self._paused_since is not None:
                self._paused_total += now - self._paused_since
                self._paused_since = None
        elif current == states.PAUSED:
            if not self._run_active:
                self._new_run(now)
            self._paused_since = now
        elif current in states.RUN_ENDED_STATES or current == states.LOADED:
            if self._run_active or previous in (states.RUNNING, states.PAUSED):
                self._end_run(now)
            if current == states.FINISHED and self.total and self.runs:
                self.index = self.total
            if current == states.STOPPED and previous in (states.RUNNING, states.PAUSED):
                self.cancelled = True
        if current == states.ERROR:
            self.error = snapshot.error if snapshot is not None else None
        label = current
        if current == states.STOPPED and self.cancelled:
            label = "stopped (cancelled)"
        self.log.append(LogEntry("state", label))
        if current == states.ERROR:
            self.log.append(
                LogEntry(
                    "error",
                    str(self.error) if self.error else "the run failed; the robot does not say why",
                )
            )

    def on_step(self, step: StepEvent) -> None:
        """A protocol step reported by the watcher (only starts move the progress)."""
        if step.total:
            self.total = step.total
        if step.phase != "start":
            return
        if step.command_id in self._seen:
            return
        index = step.index
        # A new run shows as steps arriving while no run is under way (polling can report
        # a run's steps before its state), or as the step count starting over.
        if not self._run_active or (index is not None and index <= self.index):
            self._new_run(self.clock())
        self._seen.add(step.command_id)
        self.index = index if index is not None else self.index + 1
        self.current = _step_text(step.step_name, step.text)
        self._step_started_at = self.clock()
        self._step_paused_before = self._paused_so_far()
        self.log.append(LogEntry("step", self.current, self.index, self.total))

    def on_gone(self) -> None:
        """The session was deleted on the robot."""
        self.gone = True
        if self._run_active:
            self._end_run(self.clock())
        self.log.append(LogEntry("state", "deleted"))

    def note(self, text: str, kind: str = "note") -> None:
        """Add a line to the log (commands sent, problems reaching the robot)."""
        self.log.append(LogEntry(kind, text))

    def _new_run(self, now: float) -> None:
        self._run_active = True
        self.runs += 1
        self.index = 0
        self.current = None
        self.error = None
        self.cancelled = False
        self._seen = set()
        self._started_at = now
        self._ended_at = None
        self._paused_since = None
        self._paused_total = 0.0
        self._step_started_at = None
        self._step_paused_before = 0.0
        if self.runs > 1:
            self.log.append(LogEntry("note", f"run {self.runs}"))

    def _end_run(self, now: float) -> None:
        self._run_active = False
        if self._paused_since is not None:
            self._paused_total += now - self._paused_since
            self._paused_since = None
        self._ended_at = now

    # -- reading -------------------------------------------------------------------------

    @property
    def run_active(self) -> bool:
        return self._run_active

    @property
    def fraction(self) -> float | None:
        """Steps reached / total (``None`` without a total)."""
        if not self.total:
            return None
        return min(1.0, self.index / self.total)

    def elapsed(self) -> float | None:
        """Seconds since the run started (pauses included), or its length once over."""
        if self._started_at is None:
            return None
        end = self._ended_at if self._ended_at is not None else self.clock()
        return max(0.0, end - self._started_at)

    def _paused_so_far(self) -> float:
        paused = self._paused_total
        if self._paused_since is not None:
            paused += self.clock() - self._paused_since
        return paused

    def running_time(self) -> float | None:
        """Like :meth:`elapsed` without the time spent paused."""
        elapsed = self.elapsed()
        if elapsed is None:
            return None
        return max(0.0, elapsed - self._paused_so_far())

    # -- the current step --------------------------------------------------------------

    def step_timing(self) -> StepTiming | None:
        """What the current step is, if it is a long one (a delay, a hold, a module wait, a
        pause), while a run is under way."""
        if not self._run_active:
            return None
        return step_timing(self.current)

    def waiting_for_user(self) -> str | None:
        """The protocol's pause message while a ``ctx.pause()`` waits for the user (``""``
        when it gave none); ``None`` otherwise."""
        timing = self.step_timing()
        if self.state != states.PAUSED or timing is None or timing.kind != "pause":
            return None
        return timing.what

    def step_running_time(self) -> float | None:
        """Seconds the current step has been running (pauses not counted)."""
        if self._step_started_at is None or not self._run_active:
            return None
        so_far = self.clock() - self._step_started_at
        paused = self._paused_so_far() - self._step_paused_before
        return max(0.0, so_far - paused)

    def step_remaining(self) -> float | None:
        """Seconds left in the current step, when its text says how long it lasts."""
        timing = self.step_timing()
        running = self.step_running_time()
        if timing is None or timing.seconds is None or running is None:
            return None
        return max(0.0, timing.seconds / self.pace - running)

    def remaining(self) -> float | None:
        """Estimated seconds left in a run under way (``None`` when unknown or not running).

        From the protocol's estimated duration scaled by the steps still to come; without
        an estimate, from the pace of the steps so far.
        """
        if not self._run_active:
            return None
        fraction = self.fraction
        if self.estimated_duration is not None:
            estimate = self.estimated_duration / self.pace
            if fraction is None:
                so_far = self.running_time() or 0.0
                return max(0.0, estimate - so_far)
            return max(0.0, estimate * (1.0 - fraction))
        running = self.running_time()
        if fraction is None or running is None or self.index < 1 or fraction <= 0:
            return None
        return max(0.0, running / fraction - running)


def _step_start_time(events: tuple[SessionEvent, ...], command_id: str | None) -> datetime | None:
    """When the latest start of step ``command_id`` was stamped by the robot."""
    found = None
    for event in events:
        if event.is_step_start and event.command_id == command_id:
            found = event.timestamp
    return found


def _last_start_time(events: tuple[SessionEvent, ...]) -> datetime | None:
    start = None
    for event in events:
        if event.source == "sessionCommand" and event.event == states.START_RUN:
            start = event.timestamp
    return start
