"""The robot-like mode (``ot2-sim --robot-like``): robot-server 4.7 as a client meets it.

A client written against the simulator must also cope with a real 4.7 robot, which differs
where it matters to a client (README "Where the simulator differs"). In robot-like mode the
simulator answers as 4.7 does at those places, so the client's paths for real robots run in
tests without a robot:

* ``RobotLikeAnswers``: resources without the simulator's additions: no run errors in a
  session (4.7 hides them), no ``estimatedDuration``, ``description``, labware ``slot``,
  ``exceptionType`` or ``fileName`` of an exception in ``run()``, no ``simulator`` object in
  ``GET /health`` (so a client takes it for a robot);
* ``RobotLikeStops``: a cancel or delete of a running session answers only after
  ``stop_delay`` s and holds every other request meanwhile (4.7 blocks its event loop until
  the protocol ends: 11-14 s recorded, so a client's requests time out); a cancel or delete
  of a paused session, which deadlocks 4.7 for good (recordings 15, 16), is refused
  (``WouldDeadlock``, 409) instead of imitated;
* ``RequestLog``: every request served, with the session's state for each cancel and delete
  and whether it would have deadlocked a real robot (``GET /simulator/requests``), so tests
  can assert that a client never sends one.

The other robot-like settings are plain options set by ``--robot-like``: no session events,
API level 2.11 at most. ``Answers`` and ``Stops`` are the default mode's: as they are, at once.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ot2_notebook import session_states as states
from ot2_notebook.simulator.errors import WouldDeadlock

__all__ = [
    "LOG_ENTRY",
    "Answers",
    "Gate",
    "RequestLog",
    "RobotLikeAnswers",
    "RobotLikeStops",
    "Stops",
]

T = TypeVar("T")

#: Where the request log's entry for the request being served is kept (ASGI scope key).
LOG_ENTRY = "ot2sim.request_log_entry"

#: The name ``GET /health`` gives in robot-like mode (no ``simulator`` object either).
ROBOT_LIKE_NAME = "ot2-sim-robot-like"

#: Analysis errors whose file 4.7 names (a parse error); for others it gives only the line.
_ERRORS_WITH_FILE = ("SyntaxError", "JSONDecodeError")


class RequestLog:
    """Every request served (bounded), oldest first; entries are plain dicts, filled in while
    the request is served (``status`` when it is answered)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._count = 0
        self._lock = threading.Lock()

    def open(self, method: str, path: str) -> dict[str, Any]:
        with self._lock:
            self._count += 1
            entry: dict[str, Any] = {
                "index": self._count,
                "time": time.time(),
                "method": method,
                "path": path,
                "status": None,
            }
            self._entries.append(entry)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]


class Gate:
    """Holds every request while a robot-like stop blocks the server (an ``asyncio`` gate of
    the server's one event loop; open unless someone holds it closed)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._holders = 0

    def _open(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
            self._event.set()
        return self._event

    async def passage(self) -> None:
        await self._open().wait()

    @asynccontextmanager
    async def closed(self) -> AsyncIterator[None]:
        event = self._open()
        self._holders += 1
        event.clear()
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0:
                event.set()


class Answers:
    """The resources as the simulator describes them (the default mode)."""

    def protocol(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def session(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def health(self, data: dict[str, Any]) -> dict[str, Any]:
        return data


class RobotLikeAnswers(Answers):
    """The resources as robot-server 4.7 describes them (see the module doc)."""

    def protocol(self, data: dict[str, Any]) -> dict[str, Any]:
        data = copy.deepcopy(data)
        data.pop("estimatedDuration", None)
        data.get("metadata", {}).pop("description", None)
        equipment = data.get("requiredEquipment", {})
        for item in [*equipment.get("labware", []), *equipment.get("modules", [])]:
            item.pop("slot", None)
        for error in data.get("errors", []):
            _as_robot_reports(error)
        return data

    def session(self, data: dict[str, Any]) -> dict[str, Any]:
        data = copy.deepcopy(data)
        data.get("details", {}).pop("errors", None)
        return data

    def health(self, data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data.pop("simulator", None)
        data["name"] = ROBOT_LIKE_NAME
        return data


def _as_robot_reports(error: dict[str, Any]) -> None:
    for key in ("exceptionType", "mount", "wanted", "attached", "location"):
        error.pop(key, None)
    if error.get("type") not in _ERRORS_WITH_FILE:
        error.pop("fileName", None)


class Stops:
    """A cancel or delete of a session, served at once (the default mode)."""

    async def stop(
        self,
        entry: dict[str, Any] | None,
        request: str,
        session_id: str,
        state: str,
        work: Callable[[], T],
    ) -> T:
        """Do ``work`` (the cancel or delete) for ``request`` on a session in ``state``."""
        return await run_in_threadpool(work)


class RobotLikeStops(Stops):
    """A cancel or delete as robot-server 4.7 serves it (see the module doc)."""

    def __init__(self, delay: float, gate: Gate) -> None:
        self.delay = delay
        self.gate = gate

    async def stop(
        self,
        entry: dict[str, Any] | None,
        request: str,
        session_id: str,
        state: str,
        work: Callable[[], T],
    ) -> T:
        if entry is not None:
            entry.update(sessionId=session_id, sessionState=state, wouldDeadlock=False)
        if state == states.PAUSED:
            if entry is not None:
                entry.update(wouldDeadlock=True, refused=True)
            raise WouldDeadlock(request, session_id)
        if state != states.RUNNING or self.delay <= 0:
            return await run_in_threadpool(work)
        async with self.gate.closed():
            result = await run_in_threadpool(work)
            await asyncio.sleep(self.delay)
        if entry is not None:
            entry["blockedFor"] = self.delay
        return result
