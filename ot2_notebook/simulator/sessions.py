"""Protocol sessions: state, event log, the active-session rule, and command handling.

State changes go through ``SessionManager.set_state`` only, which also publishes them on
the ``session_events`` topic, so the feed and ``GET /sessions/{id}`` never disagree.
The work itself (loading, simulating, running in a worker) is in ``runner.py``.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ot2_notebook import session_states as states
from ot2_notebook.simulator.api.errors import ActionForbidden, ResourceNotFound
from ot2_notebook.simulator.notifications import SESSION_EVENTS, NotificationHub
from ot2_notebook.simulator.protocol_store import StoredProtocol

if TYPE_CHECKING:
    from ot2_notebook.simulator.runner import RunHandle, SessionRunner


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


@dataclass(eq=False)
class ProtocolSession:
    id: str
    protocol_id: str
    protocol_file: str
    directory: Path
    created_at: str
    state: str = states.STOPPED
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Protocol step command ids are numbers counting across load, simulate and runs.
    last_command_number: int = 0
    #: Steps in one pass of the protocol, from the load simulation (for progress).
    total_steps: int | None = None
    run: RunHandle | None = None
    #: Serialises this session's jobs (load, simulate, run).
    job_lock: threading.Lock = field(default_factory=threading.Lock)
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
            "sessionType": "protocol",
            "createParams": {"protocolId": self.protocol_id},
        }


class SessionManager:
    def __init__(self, root: Path, hub: NotificationHub, *, simulate_wait: float = 60.0) -> None:
        self.root = root
        self.simulate_wait = simulate_wait
        self.root.mkdir(parents=True, exist_ok=True)
        self.hub = hub
        self.runner: SessionRunner | None = None
        self.protocol_sessions_enabled = True
        self._sessions: dict[str, ProtocolSession] = {}
        self._active_id: str | None = None
        #: Guards every session's state and events; held only briefly, never across I/O.
        self.lock = threading.RLock()

    # -- lookup --------------------------------------------------------------------------
    def get(self, session_id: str) -> ProtocolSession:
        with self.lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise ResourceNotFound("session", session_id)
        return session

    def list(self) -> list[ProtocolSession]:
        with self.lock:
            return list(self._sessions.values())

    def snapshot(self, session: ProtocolSession) -> dict[str, Any]:
        with self.lock:
            return session.to_json()

    # -- lifecycle -----------------------------------------------------------------------
    def create(self, protocol: StoredProtocol) -> ProtocolSession:
        """A new session (state ``stopped``) that loads in the background. It works on a
        copy of the protocol's files, so deleting or changing the protocol later does not
        affect it (the robot allows deleting a protocol that sessions use)."""
        session_id = str(uuid.uuid4())
        directory = self.root / session_id
        shutil.copytree(protocol.directory, directory)
        session = ProtocolSession(
            id=session_id,
            protocol_id=protocol.id,
            protocol_file=protocol.protocol_file,
            directory=directory,
            created_at=iso(),
        )
        with self.lock:
            self._sessions[session_id] = session
            self._active_id = session_id
            self._publish_state(session, None)
        assert self.runner is not None
        self.runner.load(session)
        return session

    def delete(self, session_id: str) -> dict[str, Any]:
        """Remove a session, stopping its run first; returns its final state."""
        with self.lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise ResourceNotFound("session", session_id)
            if session.run is not None:
                session.run.cancel()
            if session.state in (states.RUNNING, states.PAUSED):
                self.set_state(session, states.STOPPED)
            final = session.to_json()
        shutil.rmtree(session.directory, ignore_errors=True)
        return final

    def clear(self) -> None:
        for session in self.list():
            try:
                self.delete(session.id)
            except ResourceNotFound:
                pass

    # -- commands ------------------------------------------------------------------------
    def execute(self, session_id: str, command: str) -> dict[str, Any]:
        """Check a command against the active-session rule and the state table, record it,
        and start its effect. Returns the command resource (status ``executed``).

        Blocking (call from a thread): a ``startRun`` or ``startSimulate`` that arrives while
        a simulation is logging its steps waits for it, so the log stays in order.
        """
        session = self.get(session_id)
        if command in (states.START_RUN, states.START_SIMULATE):
            session.simulation_done.wait(self.simulate_wait)
        command_id = str(uuid.uuid4())
        created = iso()
        with self.lock:
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
        runner = self.runner
        assert runner is not None
        if command == states.START_RUN:
            session.errors = []
            self.set_state(session, states.RUNNING)
            runner.run(session)
        elif command == states.START_SIMULATE:
            self.set_state(session, states.LOADED)
            session.simulation_done.clear()
            runner.simulate(session)
        elif command == states.PAUSE:
            assert session.run is not None
            session.run.control_pause()
        elif command == states.RESUME:
            assert session.run is not None
            session.run.control_resume()
        elif command == states.CANCEL:
            if session.run is not None:
                session.run.cancel()
            self.set_state(session, states.STOPPED)

    # -- used by the runner --------------------------------------------------------------
    def set_state(self, session: ProtocolSession, new_state: str) -> None:
        with self.lock:
            previous = session.state
            if previous == new_state:
                return
            session.state = new_state
            self._publish_state(session, previous)

    def _publish_state(self, session: ProtocolSession, previous: str | None) -> None:
        self.hub.publish(
            SESSION_EVENTS,
            {
                "type": "SessionState",
                "sessionId": session.id,
                "protocolId": session.protocol_id,
                "currentState": session.state,
                "previousState": previous,
            },
        )

    def is_live(self, session: ProtocolSession) -> bool:
        with self.lock:
            return self._sessions.get(session.id) is session
