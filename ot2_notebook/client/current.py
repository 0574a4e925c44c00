"""The kernel's current robot: the one ``%ot2_connect`` chose, used by magics and widgets
when no client is passed explicitly."""

from __future__ import annotations

import threading

from ot2_notebook.client.errors import NoCurrentRobotError
from ot2_notebook.client.http import RobotClient

__all__ = ["current_robot", "set_current_robot"]

_lock = threading.Lock()
_current: RobotClient | None = None


def current_robot() -> RobotClient:
    """The robot chosen with ``%ot2_connect`` (or :func:`set_current_robot`).

    Raises :class:`NoCurrentRobotError` (a :class:`RobotError`) saying how to choose one.
    """
    with _lock:
        robot = _current
    if robot is None:
        raise NoCurrentRobotError()
    return robot


def set_current_robot(robot: RobotClient | str | None) -> RobotClient | None:
    """Make ``robot`` (a client, or a URL for a new client) the current robot; ``None``
    forgets it. Returns the new current robot. The previous client is not closed: whoever
    created it owns it."""
    global _current
    if isinstance(robot, str):
        robot = RobotClient(robot)
    if robot is not None and not isinstance(robot, RobotClient):
        raise TypeError(f"set_current_robot() takes a RobotClient, a URL or None, not {robot!r}")
    with _lock:
        _current = robot
    return robot
