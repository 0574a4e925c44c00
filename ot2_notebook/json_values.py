"""Numbers read from a robot's JSON, leniently: the one rule every layer uses.

Robot software sends slots as ``"1"`` or ``1`` depending on the version and the endpoint,
and JSON's ``true`` is an ``int`` to Python. A reader of the robot's answers (the client's
models, software 8's commands, the steps' structured data) must not fail on either, nor take
``True`` for 1. Standard library only: the simulator shares this with the kernel side.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_int", "as_number"]


def as_int(value: Any) -> int | None:
    """``3`` and ``"3"`` -> 3; anything else (booleans, floats, ``"3a"``, ``None``) -> ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def as_number(value: Any) -> float | None:
    """An ``int`` or a ``float`` as a float; anything else (booleans, strings) -> ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
