"""The kernel's robots: the ones ``%ot2_connect`` chose, by name, and the default one, used by
magics and widgets when no client is passed explicitly.

One robot is the *default* (:func:`current_robot`); others are connected by name
(``%ot2_connect URL --name NAME``, or :func:`add_robot`) and found with :func:`robot` and
:func:`robots`. :func:`set_current_robot` keeps its old meaning: it makes a client the
default robot (under the name it already has, else ``"default"``).
"""

from __future__ import annotations

import threading

from ot2_notebook.client.errors import NoCurrentRobotError, UnknownRobotError
from ot2_notebook.client.http import RobotClient

__all__ = [
    "DEFAULT_NAME",
    "add_robot",
    "current_robot",
    "default_robot_name",
    "remove_robot",
    "robot",
    "robots",
    "set_current_robot",
]

#: The name of a default robot connected without a name.
DEFAULT_NAME = "default"

_lock = threading.Lock()
_robots: dict[str, RobotClient] = {}
_default: str | None = None


def current_robot() -> RobotClient:
    """The default robot: the one chosen with ``%ot2_connect`` (or :func:`set_current_robot`).

    Raises :class:`NoCurrentRobotError` (a :class:`RobotError`) saying how to choose one.
    """
    with _lock:
        found = _robots.get(_default) if _default is not None else None
    if found is None:
        raise NoCurrentRobotError()
    return found


def robot(name: str | None = None) -> RobotClient:
    """The robot connected as ``name`` (``None``: the default robot, :func:`current_robot`).

    Raises :class:`UnknownRobotError` naming the connected robots.
    """
    if name is None:
        return current_robot()
    with _lock:
        found = _robots.get(name)
        known = sorted(_robots)
    if found is None:
        raise UnknownRobotError(name, known)
    return found


def robots() -> dict[str, RobotClient]:
    """Every connected robot by name (the default one included), in connection order."""
    with _lock:
        return dict(_robots)


def default_robot_name() -> str | None:
    """The name of the default robot (``None`` when there is none)."""
    with _lock:
        return _default if _default in _robots else None


def add_robot(name: str, client: RobotClient | str, *, default: bool = False) -> RobotClient:
    """Connect ``client`` (or a URL, for a new client) as robot ``name``, replacing one of
    that name; it becomes the default robot with ``default=True`` or when there is none.
    The replaced client is not closed: whoever created it owns it."""
    global _default
    if not name or not isinstance(name, str):
        raise ValueError(f"A robot's name must be a non-empty string, not {name!r}.")
    if isinstance(client, str):
        client = RobotClient(client)
    if not isinstance(client, RobotClient):
        raise TypeError(f"add_robot() takes a RobotClient or a URL, not {client!r}")
    with _lock:
        _robots[name] = client
        if default or _default is None or _default not in _robots:
            _default = name
    return client


def remove_robot(name: str) -> RobotClient | None:
    """Forget robot ``name`` (if it was the default, there is no default afterwards)."""
    global _default
    with _lock:
        found = _robots.pop(name, None)
        if _default == name:
            _default = None
    return found


def set_current_robot(robot: RobotClient | str | None) -> RobotClient | None:
    """Make ``robot`` (a client, or a URL for a new client) the default robot; ``None``
    forgets the default one. Returns the new default robot. The previous client is not
    closed: whoever created it owns it."""
    global _default
    if isinstance(robot, str):
        robot = RobotClient(robot)
    if robot is not None and not isinstance(robot, RobotClient):
        raise TypeError(f"set_current_robot() takes a RobotClient, a URL or None, not {robot!r}")
    with _lock:
        if robot is None:
            if _default is not None:
                _robots.pop(_default, None)
            _default = None
            return None
        name = next((n for n, c in _robots.items() if c is robot), None)
        if name is None:
            name = _default or DEFAULT_NAME
            _robots[name] = robot
        _default = name
    return robot
