"""Never hang a robot: the one rule for every request that cancels or deletes a session.

Robot software 4.x (recorded on 4.7, ``tests/recordings/robot-server-4`` 12, 13, 15, 16):

* ``protocol.cancel`` or ``DELETE /sessions/{id}`` of a **paused** session deadlocks the
  robot's server for good: it never answers again, and only a restart ends it;
* the same of a **running** session blocks the whole server until the protocol's thread
  ends (11-14 s recorded): every other request waits, or times out, meanwhile.

So, for each request a :class:`~ot2_notebook.client.RobotClient` sends,
:meth:`StopGuard.prepare` decides:

1. a request that stops no session (all but ``DELETE /sessions/{id}`` and the
   ``protocol.cancel`` command) is sent as it is;
2. so is a stop sent to ``ot2-sim``, which says in ``GET /health`` (its ``simulator``
   object) that it stops paused runs at once; a robot, and ``ot2-sim --robot-like``, do not;
3. otherwise the session is read first; a paused session is resumed (``protocol.resume``)
   and the stop is sent only once the session has left ``paused``; if it stays paused
   (a robot ignores a resume while its door is open), nothing is sent and
   :class:`~ot2_notebook.client.errors.StopRefusedError` says why;
4. the stop is sent with a long timeout (:data:`STOP_TIMEOUT`, or the client's if longer),
   since the robot answers it only when the protocol's thread ends.

Every path that stops a session goes through ``RobotClient.request``: ``Session.cancel()``
and ``Session.delete()``, ``RobotClient.delete_session()`` and ``execute()``, the run panel's
Cancel button, ``%ot2_cleanup`` and the replacing of a protocol, and raw
``robot.request("DELETE", ...)`` calls. Resuming moves the robot again for the moment
between the resume and the cancel (a 4.x cancel halts the motors first thing); a protocol
that pauses itself again in that moment can still hang a robot, which this client cannot
prevent. Robot software 8 stops a paused run safely; its client does not use this guard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Final, Protocol
from urllib.parse import unquote

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import StopRefusedError

__all__ = ["RESUME_TIMEOUT", "STOP_TIMEOUT", "StopGuard", "stop_target"]

log = logging.getLogger(__name__)

#: Seconds a stop may take to be answered: a 4.x robot answers only when the protocol's
#: thread ends (11-14 s recorded on simulated hardware; longer with a slow last move).
STOP_TIMEOUT: Final = 120.0
#: Seconds to wait for a resumed run to leave ``paused`` before refusing to stop it.
RESUME_TIMEOUT: Final = 15.0
_POLL: Final = 0.1


class _HealthView(Protocol):  # what the guard reads of the client's answers
    @property
    def raw(self) -> Mapping[str, Any]: ...


class _SessionView(Protocol):
    @property
    def state(self) -> str: ...


class GuardedClient(Protocol):
    """What the guard needs of the client it guards (a ``RobotClient`` is one)."""

    @property
    def timeout(self) -> float: ...

    def health(self) -> _HealthView: ...

    def session_data(self, session_id: str) -> _SessionView: ...

    def execute(self, session_id: str, command: str) -> object: ...


def stop_target(method: str, path: str, body: Any = None) -> tuple[str, str] | None:
    """``(session_id, action)`` when the request stops a session (``action`` is ``cancel``
    or ``delete``), else ``None``."""
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
    if len(parts) < 2 or parts[0] != "sessions":
        return None
    method = method.upper()
    if method == "DELETE" and len(parts) == 2:
        return parts[1], "delete"
    if method == "POST" and parts[2:] == ["commands", "execute"]:
        data = body.get("data") if isinstance(body, Mapping) else None
        if isinstance(data, Mapping) and data.get("command") == states.CANCEL:
            return parts[1], "cancel"
    return None


def stops_paused_runs_safely(health: Mapping[str, Any]) -> bool:
    """Whether the robot whose ``GET /health`` this is stops a paused run without hanging:
    only ``ot2-sim`` (not in its robot-like mode) says so."""
    simulator = health.get("simulator")
    return isinstance(simulator, Mapping) and simulator.get("name") == "ot2-sim"


class StopGuard:
    """The rule of the module doc, for one client (one robot)."""

    def __init__(
        self,
        client: GuardedClient,
        *,
        resume_timeout: float = RESUME_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self._client = client
        self.resume_timeout = resume_timeout
        self.stop_timeout = stop_timeout
        self._safe_robot: bool | None = None

    def robot_stops_paused_runs_safely(self) -> bool:
        """Asked of the robot once (``GET /health``), then remembered."""
        if self._safe_robot is None:
            self._safe_robot = stops_paused_runs_safely(self._client.health().raw)
        return self._safe_robot

    def prepare(self, method: str, path: str, body: Any = None) -> float | None:
        """Make the request safe to send (see the module doc); returns the timeout to send
        it with (``None``: the client's own). Raises ``StopRefusedError`` when it must not
        be sent, and any ``RobotError`` of the requests it made to find out."""
        target = stop_target(method, path, body)
        if target is None or self.robot_stops_paused_runs_safely():
            return None
        session_id, action = target
        self._unpause(session_id, action)
        return max(self.stop_timeout, self._client.timeout)

    def _unpause(self, session_id: str, action: str) -> None:
        state = self._client.session_data(session_id).state
        if state != states.PAUSED:
            return
        log.info(
            "session %s is paused: resuming it before the %s (robot software 4.x hangs on a "
            "%s of a paused session)",
            session_id,
            action,
            action,
        )
        self._client.execute(session_id, states.RESUME)
        deadline = time.monotonic() + self.resume_timeout
        while True:
            state = self._client.session_data(session_id).state
            if state != states.PAUSED:
                return
            if time.monotonic() >= deadline:
                raise StopRefusedError(
                    session_id,
                    action,
                    state,
                    f"the run is paused and did not resume within {self.resume_timeout:g} s "
                    "(is the robot's door open?); a " + action + " of a paused session hangs "
                    "robot software 4.x, so it was not sent",
                )
            time.sleep(_POLL)
