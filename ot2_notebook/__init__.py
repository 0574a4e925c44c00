"""ot2_notebook: the Opentrons OT-2 HTTP protocol API (robot software 4.x) in Jupyter.

``%load_ext ot2_notebook`` registers the cell magics; ``ot2_notebook.RobotClient`` is the
Python client; ``ot2-sim`` (``ot2_notebook.simulator``) is a local simulated robot.
``current_robot()`` is the kernel's default robot, ``robot(NAME)`` and ``robots()`` the
robots connected by name (``%ot2_connect URL --name NAME``). ``DeckView`` / ``show_deck``
(from :mod:`ot2_notebook.widgets`) draw a protocol's deck and play its steps back.

Importing this package is cheap on purpose: names are resolved on first use, and
nothing here imports ``opentrons`` (only the simulator's worker processes do).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ot2_notebook._version import __version__

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "RobotClient": "ot2_notebook.client",
    "Protocol": "ot2_notebook.client",
    "Session": "ot2_notebook.client",
    "RobotError": "ot2_notebook.client",
    "current_robot": "ot2_notebook.client",
    "set_current_robot": "ot2_notebook.client",
    "robot": "ot2_notebook.client",
    "robots": "ot2_notebook.client",
    "add_robot": "ot2_notebook.client",
    "DeckView": "ot2_notebook.widgets",
    "show_deck": "ot2_notebook.widgets",
}

__all__ = [
    "DeckView",
    "Protocol",
    "RobotClient",
    "RobotError",
    "Session",
    "__version__",
    "add_robot",
    "current_robot",
    "load_ipython_extension",
    "robot",
    "robots",
    "set_current_robot",
    "show_deck",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from ot2_notebook.client import (
        Protocol,
        RobotClient,
        RobotError,
        Session,
        add_robot,
        current_robot,
        robot,
        robots,
        set_current_robot,
    )
    from ot2_notebook.widgets import DeckView, show_deck


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ot2_notebook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ot2_notebook``: register the ``%ot2_*`` magics on this shell."""
    from ot2_notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext ot2_notebook``: stop what the extension started (simulator, feeds)."""
    from ot2_notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)
