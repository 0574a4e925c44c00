"""The rules for the names of uploaded files and for protocol ids, in one place.

The magics (before they bundle a cell), the client (before it sends a file) and the simulated
robot (before it writes one) all apply these same rules, so a name is refused at the first
layer that sees it, with the same words, rather than passing two layers and failing at the
third. Standard library only: every layer, the simulator's environment included, imports it.

Where real robots differ: robot software 4.7 accepts any name and writes ``../../x.py``
outside its protocol folder (SPEC §6). These rules are stricter on purpose; a name they
accept is accepted by every robot.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Final

__all__ = [
    "MAX_NAME_BYTES",
    "file_name_problem",
    "plain_name",
    "protocol_id_for",
    "protocol_name_problem",
]

#: The longest file name (in UTF-8 bytes) that common file systems store.
MAX_NAME_BYTES: Final = 255

# Unicode categories no file name should contain: controls, format characters (invisible
# direction marks), line and paragraph separators.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def file_name_problem(name: str | None, what: str = "file") -> str | None:
    """Why ``name`` cannot be the name of an uploaded file, or ``None`` if it can.

    A protocol's files are stored side by side in one folder, so a name is a plain base name:
    no folder separators, not ``.``/``..`` nor hidden (a leading ``.``), no control or
    invisible characters, at most :data:`MAX_NAME_BYTES` bytes. The answer is a phrase that
    completes "cannot upload: ...", naming ``what`` (``"support file"``, ``"protocol file"``).
    """
    if not name:
        return f"the {what} has no name; give it a plain file name such as 'helpers.py'"
    problem = None
    if "/" in name or "\\" in name:
        problem = "contains a folder separator"
    elif name.startswith("."):
        problem = "starts with '.'"
    elif any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        problem = "contains control or invisible characters"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes"
    if problem is None:
        return None
    shown = name if len(name) <= 60 else name[:57] + "..."
    return (
        f"the {what} name {shown!r} {problem}; use a plain file name such as 'helpers.py' "
        "(no folders, not starting with '.'): the robot keeps a protocol's files side by side"
    )


def protocol_id_for(file_name: str) -> str:
    """The id a robot gives a protocol file: its base name without the last suffix
    (``my_protocol.py`` -> ``my_protocol``, ``protocol.ot2.py`` -> ``protocol.ot2``)."""
    name = os.path.basename(file_name.replace("\\", "/"))
    stem, dot, _suffix = name.rpartition(".")
    return stem if dot and stem else name


def protocol_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a protocol's name (uploaded as ``NAME.py``, its id), or ``None``."""
    problem = file_name_problem(name, "protocol")
    if problem is None and name.endswith("."):
        problem = f"the protocol name {name!r} ends with '.'; end it with a letter or digit"
    return problem


def plain_name(name: str | None, what: str = "file") -> str:
    """``name`` if it is a valid file name, else ``ValueError`` saying why."""
    problem = file_name_problem(name, what)
    if problem is not None:
        raise ValueError(problem[0].upper() + problem[1:] + ".")
    return name  # type: ignore[return-value]  # not None: file_name_problem refuses it
