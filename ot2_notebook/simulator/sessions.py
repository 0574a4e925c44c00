"""Protocol sessions: their state, event log and errors, the active-session rule, and commands.

``SessionManager`` owns every session and is the only code that changes one. Commands come
in through ``create``/``execute``/``delete``; the work itself (loading, simulating, running
in a worker) is done by ``runner.SessionRunner``, which reports back through the manager's
``SessionReports`` methods (``simulated``, ``run_step``, ``run_paused``, ``run_finished``...).
Every state change is published on the ``session_events`` topic under the same lock that
makes it, so the feed and ``GET /sessions/{id}`` never disagree.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ot2_notebook import session_states as states
from ot2_notebook.simulator.advanced_settings import AdvancedSettings
from ot2_notebook.simulator.analysis import Analysis
from ot2_notebook.simulator.errors import (
    ActionForbidden,
    InvalidRequest,
    ResourceNotFound,
    RobotServerError,
)
from ot2_notebook.simulator.notifications import SESSION_EVENTS, NotificationHub
from ot2_notebook.simulator.protocol_store import ProtocolStore
from ot2_notebook.simulator.runner import RunHandle, SessionJob, SessionRunner
from ot2_notebook.simulator.workers.messages import Step
from ot2_notebook.step_data import STRUCTURED_KEY

PROTOCOL_SESSION = "protocol"


def iso(timestamp: float | None = None) -> str:
    moment = (
        datetime.now(timezone.utc)
        if timestamp is None
        else datetime.fromtimestamp(timestamp, timezone.utc)
    )
    return moment.isoformat()


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class RunProgress:
    """One run's step numbering: command ids go on from the session's count (``base``)."""

    handle: RunHandle
    base: int
    #: Each started step's text, so the feed's end event can carry it too.
    texts: dict[int, str] = field(default_factory=dict)
    highest: int = 0


@dataclass(eq=False)
class ProtocolSession:
    """One session's data. Only ``SessionManager`` reads or changes it, under its lock."""

    id: str
    protocol_id: str
    protocol_file: str
    directory: Path
    created_at: str
    #: What the runner needs to know of this session.
    job: SessionJob
    state: str = states.STOPPED
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Protocol step command ids are numbers counting across load, simulate and runs.
    last_command_number: int = 0
    #: Steps in one pass of the protocol, from the load simulation (for progress).
    total_steps: int | None = None
    #: The run in progress (``running`` or ``paused``), if any.
    run: RunProgress | None = None
    #: Clear while a ``startSimulate`` is in progress (its steps are still to be logged).
    simulation_done: threading.Event = field(default_factory=_set_event)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": self.created_at,
            "details": {
                "protocolId": self.protocol_id,
                "currentState": self.state,
                "events": list(self.events),
                "errors": list(self.errors),
            },
            "sessionType": PROTOCOL_SESSION,
            "createParams": {"protocolId": self.protocol_id},
        }


def _step_params(step: Step) -> dict[str, Any] | None:
    """A start event's ``params``: the text, as 4.x sends it, and the step's structured data
    (SPEC §6, last row; :mod:`ot2_notebook.step_data`); an end event has none."""
    if step.phase != "start":
        return None
    params: dict[str, Any] = {"text": step.text}
    if step.structured is not None:
        params[STRUCTURED_KEY] = step.structured
    return params


def _step_event(command_number: int, step: Step) -> dict[str, Any]:
    return {
        "source": "protocol",
        "event": f"{step.name}.{step.phase}",
        "timestamp": iso(step.timestamp),
        "commandId": str(command_number),
        "params": _step_params(step),
        "result": None,
    }


_UNREPORTED_END = (
    "The run ended without a result (a bug in ot2-sim; its log says more). Start the run again."
)


class SessionManager:
    """Every protocol session of the robot. Its ``SessionReports`` methods are for the runner."""

    def __init__(
        self,
        root: Path,
        hub: NotificationHub,
        runner: SessionRunner,
        *,
        settings: AdvancedSettings,
        protocols: ProtocolStore,
        simulate_wait: float = 60.0,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._hub = hub
        self._runner = runner
        self._settings = settings
        self._protocols = protocols
        self._simulate_wait = simulate_wait
        self._sessions: dict[str, ProtocolSession] = {}
        self._active_id: str | None = None
        #: Guards every session's data; held only briefly, never across file or worker I/O.
        self._lock = threading.RLock()

    # -- reading -------------------------------------------------------------------------
    def _get(self, session_id: str) -> ProtocolSession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise ResourceNotFound("session", session_id)
        return session

    def snapshot(self, session_id: str) -> dict[str, Any]:
        """The session resource (404 if there is none)."""
        with self._lock:
            return self._get(session_id).to_json()

    def state_of(self, session_id: str) -> str:
        """The session's current state (404 if there is none)."""
        with self._lock:
            return self._get(session_id).state

    def snapshots(self, session_type: str | None = None) -> list[dict[str, Any]]:
        """Every session of ``session_type`` (all when ``None``), oldest first."""
        if session_type not in (None, PROTOCOL_SESSION):
            return []
        with self._lock:
            return [session.to_json() for session in self._sessions.values()]

    # -- lifecycle -----------------------------------------------------------------------
    def create(self, session_type: str, protocol_id: str | None) -> dict[str, Any]:
        """A new session (state ``stopped``) that loads in the background; it becomes the
        active one. Blocking (copies files): call from a thread, not the event loop.

        The session works on a copy of the protocol's files, so deleting or changing the
        protocol later does not affect it (the robot allows deleting a protocol in use).
        """
        if session_type != PROTOCOL_SESSION:
            raise ActionForbidden(
                f"Session type '{session_type}' is not available on the simulated robot; "
                "it simulates protocol sessions only."
            )
        if not self._settings.protocol_sessions_enabled:
            raise ActionForbidden("HTTP Protocol Session feature is disabled")
        if protocol_id is None:
            raise InvalidRequest.at("field required", pointer="/data/createParams")
        protocol = self._protocols.get(protocol_id)
        session_id = str(uuid.uuid4())
        directory = self.root / session_id
        try:
            shutil.copytree(protocol.directory, directory)
        except FileNotFoundError:  # the protocol was deleted meanwhile
            shutil.rmtree(directory, ignore_errors=True)
            raise ResourceNotFound("protocol", protocol_id) from None
        session = ProtocolSession(
            id=session_id,
            protocol_id=protocol.id,
            protocol_file=protocol.protocol_file,
            directory=directory,
            created_at=iso(),
            job=SessionJob(session_id, directory, protocol.protocol_file),
        )
        with self._lock:
            self._sessions[session_id] = session
            self._active_id = session_id
            self._publish_state(session, None)
            snapshot = session.to_json()
            self._runner.load(session.job, self)
        return snapshot

    def delete(self, session_id: str) -> dict[str, Any]:
        """Remove a session, stopping its run first; returns its final state.
        Blocking (removes files): call from a thread, not the event loop."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise ResourceNotFound("session", session_id)
            self._stop_run(session)
            final = session.to_json()
        shutil.rmtree(session.directory, ignore_errors=True)
        return final

    def clear(self) -> None:
        """Delete every session (the robot shuts down)."""
        with self._lock:
            ids = list(self._sessions)
        for session_id in ids:
            try:
                self.delete(session_id)
            except ResourceNotFound:
                pass

    # -- commands ------------------------------------------------------------------------
    def execute(self, session_id: str, command: str) -> dict[str, Any]:
        """Check a command against the active-session rule and the state table, record it,
        and start its effect. Returns the command resource (status ``executed``).

        Blocking (call from a thread): a ``startRun`` or ``startSimulate`` that arrives while
        a simulation is logging its steps waits for it, so the log stays in order.
        """
        session = self._get(session_id)
        if command in (states.START_RUN, states.START_SIMULATE):
            session.simulation_done.wait(self._simulate_wait)
        command_id = str(uuid.uuid4())
        created = iso()
        with self._lock:
            if session_id != self._active_id:
                raise ActionForbidden(
                    f"Session '{session_id}' is not active. Only the active session can "
                    "execute commands"
                )
            if not states.is_allowed(session.state, command):
                raise ActionForbidden(f"Can't execute '{command}' during state '{session.state}'")
            completed = iso()
            session.events.append(
                {
                    "source": "sessionCommand",
                    "event": command,
                    "timestamp": completed,
                    "commandId": command_id,
                    "params": None,
                    "result": None,
                }
            )
            self._apply(session, command)
        return {
            "id": command_id,
            "command": command,
            "data": {},
            "status": "executed",
            "createdAt": created,
            "startedAt": created,
            "completedAt": completed,
            "result": None,
        }

    def _apply(self, session: ProtocolSession, command: str) -> None:
        job = session.job
        if command == states.START_RUN:
            session.errors = []
            self._set_state(session, states.RUNNING)
            session.run = RunProgress(self._runner.run(job, self), session.last_command_number)
        elif command == states.START_SIMULATE:
            self._set_state(session, states.LOADED)
            session.simulation_done.clear()
            self._runner.simulate(job, self)
        elif command in (states.PAUSE, states.RESUME):
            # the state table allows these only while running or paused, when a run exists
            if session.run is None:
                raise RobotServerError(f"Session '{session.id}' has no run (a bug in ot2-sim).")
            if command == states.PAUSE:
                session.run.handle.pause()
            else:
                session.run.handle.resume()
        elif command == states.CANCEL:
            self._stop_run(session)

    def _stop_run(self, session: ProtocolSession) -> None:
        """Cancel the session's run, if any (the state becomes ``stopped``)."""
        if session.run is not None:
            session.run.handle.cancel()
            session.run = None
        if session.state in (states.RUNNING, states.PAUSED):
            self._set_state(session, states.STOPPED)

    # -- state changes -------------------------------------------------------------------
    def _set_state(self, session: ProtocolSession, new_state: str) -> None:
        previous = session.state
        if previous == new_state:
            return
        session.state = new_state
        self._publish_state(session, previous)

    def _publish_state(self, session: ProtocolSession, previous: str | None) -> None:
        self._hub.publish(
            SESSION_EVENTS,
            {
                "type": "SessionState",
                "sessionId": session.id,
                "protocolId": session.protocol_id,
                "currentState": session.state,
                "previousState": previous,
            },
        )

    def _live(self, session_id: str) -> ProtocolSession | None:
        return self._sessions.get(session_id)

    def _current_run(self, session_id: str, handle: RunHandle) -> ProtocolSession | None:
        """The session whose current run ``handle`` is; ``None`` for a cancelled or replaced
        run, or a deleted session (their reports are ignored)."""
        session = self._sessions.get(session_id)
        if session is None or handle.cancelled or session.run is None:
            return None
        return session if session.run.handle is handle else None

    # -- SessionReports: what the runner tells the manager ---------------------------------
    def is_live(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._sessions

    def simulated(self, session_id: str, analysis: Analysis | None, *, is_load: bool) -> None:
        with self._lock:
            session = self._live(session_id)
            if session is None:
                return
            try:
                if analysis is None:  # the job failed before it could simulate: a bug
                    analysis = Analysis.failed(
                        "SimulatorError",
                        "The simulated robot could not simulate this protocol (a bug in "
                        "ot2-sim; its log says more).",
                    )
                base = session.last_command_number
                session.events.extend(_step_event(base + s.index, s) for s in analysis.steps)
                session.last_command_number = base + analysis.step_count
                if analysis.errors:
                    session.errors = list(analysis.errors)
                    self._set_state(session, states.ERROR)
                elif is_load:
                    session.total_steps = analysis.step_count
                    self._set_state(session, states.LOADED)
            finally:
                session.simulation_done.set()

    def run_started(self, session_id: str, handle: RunHandle) -> bool:
        with self._lock:
            session = self._current_run(session_id, handle)
            if session is None or session.run is None:
                return False
            # a startSimulate accepted before this run may have logged steps since
            session.run.base = session.last_command_number
            return True

    def run_step(self, session_id: str, handle: RunHandle, step: Step) -> None:
        with self._lock:
            session = self._current_run(session_id, handle)
            if session is None or session.run is None:
                return
            progress = session.run
            number = progress.base + step.index
            progress.highest = max(progress.highest, step.index)
            if step.phase == "start" and step.text is not None:
                progress.texts[step.index] = step.text
            session.events.append(_step_event(number, step))
            session.last_command_number = max(session.last_command_number, number)
            frame: dict[str, Any] = {
                "type": "ProtocolStep",
                "sessionId": session.id,
                "commandId": str(number),
                "event": f"{step.name}.{step.phase}",
                "text": progress.texts.get(step.index),
                "index": step.index,
                "total": session.total_steps,
            }
            if step.phase == "start" and step.structured is not None:
                frame[STRUCTURED_KEY] = step.structured  # as in the start event's params
            self._hub.publish(SESSION_EVENTS, frame)

    def run_paused(self, session_id: str, handle: RunHandle) -> None:
        with self._lock:
            session = self._current_run(session_id, handle)
            if session is not None:
                self._set_state(session, states.PAUSED)

    def run_resumed(self, session_id: str, handle: RunHandle) -> None:
        with self._lock:
            session = self._current_run(session_id, handle)
            if session is not None:
                self._set_state(session, states.RUNNING)

    def run_finished(self, session_id: str, handle: RunHandle, step_count: int) -> None:
        with self._lock:
            session = self._end_run(session_id, handle, step_count)
            if session is not None:
                self._set_state(session, states.FINISHED)

    def run_failed(
        self,
        session_id: str,
        handle: RunHandle,
        errors: list[dict[str, Any]],
        step_count: int | None = None,
    ) -> None:
        with self._lock:
            session = self._end_run(session_id, handle, step_count)
            if session is not None:
                session.errors = list(errors)
                self._set_state(session, states.ERROR)

    def _end_run(
        self, session_id: str, handle: RunHandle, step_count: int | None
    ) -> ProtocolSession | None:
        session = self._current_run(session_id, handle)
        if session is None or session.run is None:
            return None
        progress, session.run = session.run, None
        if step_count is not None:
            count = step_count or progress.highest
            session.last_command_number = progress.base + count
        return session

    def run_ended(self, session_id: str, handle: RunHandle) -> None:
        with self._lock:
            session = self._current_run(session_id, handle)
            if session is None:
                return
            # the run's thread ended without a result or an error: never leave it "running"
            session.run = None
            session.errors = [{"type": "SimulatorError", "description": _UNREPORTED_END}]
            self._set_state(session, states.ERROR)
