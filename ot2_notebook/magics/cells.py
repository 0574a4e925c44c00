"""Which notebook cell is running: its id, its ``In [N]`` and where the magic's body starts.

A cell magic receives only its line and body. To key a cell's contribution across re-runs
and to name it in error reports, the extension listens to IPython's ``pre_run_cell`` event,
whose :class:`~IPython.core.interactiveshell.ExecutionInfo` carries the raw cell and the cell
id Jupyter sends (``cell_id``, IPython 8.x+ with ipykernel 6.x+; also in the execute
request's metadata as ``cellId``). Front ends without cell ids (terminal IPython, nbval) get
a fallback key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import IPython

from ot2_notebook.magics.cellmap import CellRef

__all__ = ["CellTracker", "RunningCell"]

#: IPython 9.8 and later count a cell (``shell.execution_count += 1``) before ``pre_run_cell``,
#: so the running cell is ``In [count - 1]`` there; IPython 8.x and 9.0-9.7 count it after the
#: cell has run, so at ``pre_run_cell`` the running cell is ``In [count]``.
COUNTS_BEFORE_PRE_RUN_CELL = tuple(IPython.version_info[:2]) >= (9, 8)


@dataclass(frozen=True)
class RunningCell:
    """What IPython said about the cell being run."""

    raw_cell: str
    cell_id: str | None
    execution_count: int | None


def _cell_id(info: Any, shell: Any) -> str | None:
    """The front end's id for the cell: ``info.cell_id``, else the execute request's
    ``cellId`` metadata (from ``info.cell_meta`` or the kernel's parent message)."""
    cell_id = getattr(info, "cell_id", None)
    if cell_id:
        return str(cell_id)
    meta = getattr(info, "cell_meta", None)
    if isinstance(meta, dict) and meta.get("cellId"):
        return str(meta["cellId"])
    parent = getattr(shell, "parent_header", None)
    if isinstance(parent, dict):
        meta = parent.get("metadata")
        if isinstance(meta, dict) and meta.get("cellId"):
            return str(meta["cellId"])
    return None


def body_offset(raw_cell: str, body: str) -> int:
    """How many lines of the cell come before the magic's body: the ``%%`` line and any
    blank lines above it (IPython drops those before calling the magic)."""
    lines = raw_cell.splitlines()
    for index, line in enumerate(lines):
        if line.strip():
            if line.lstrip().startswith("%%"):
                return index + 1
            break
    # The magic was called some other way (run_cell_magic inside code): find the body.
    if body.strip():
        position = raw_cell.find(body.rstrip("\n"))
        if position >= 0:
            return raw_cell.count("\n", 0, position)
    return 1


def running_count(count_at_pre_run_cell: int) -> int:
    """The ``N`` of ``In [N]`` for the cell being run, from ``shell.execution_count`` read in
    its ``pre_run_cell`` (see :data:`COUNTS_BEFORE_PRE_RUN_CELL`)."""
    return count_at_pre_run_cell - 1 if COUNTS_BEFORE_PRE_RUN_CELL else count_at_pre_run_cell


class CellTracker:
    """Remembers the running cell between IPython's ``pre_run_cell`` and ``post_run_cell``."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.current: RunningCell | None = None

    def register(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)

    def unregister(self) -> None:
        for event, callback in (
            ("pre_run_cell", self.pre_run_cell),
            ("post_run_cell", self.post_run_cell),
        ):
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:  # never registered (or already removed)
                pass

    def pre_run_cell(self, info: Any) -> None:
        stored = bool(getattr(info, "store_history", False)) and not getattr(info, "silent", False)
        count = running_count(self.shell.execution_count) if stored else None
        self.current = RunningCell(
            raw_cell=str(getattr(info, "raw_cell", "") or ""),
            cell_id=_cell_id(info, self.shell),
            execution_count=count,
        )

    def post_run_cell(self, result: Any) -> None:
        self.current = None

    def cell_ref(self, magic_line: str, body: str, fallback_key: str) -> CellRef:
        """The :class:`CellRef` for a magic running now with ``body``.

        ``fallback_key`` identifies the cell when the front end sends no cell id (for part
        cells: their text, so re-running an unchanged cell replaces it).
        """
        running = self.current
        header = magic_line.strip()
        if running is None:  # called outside a cell run (e.g. from a script)
            return CellRef(fallback_key, None, 1, header, False)
        offset = body_offset(running.raw_cell, body)
        if running.cell_id:
            return CellRef(f"id:{running.cell_id}", running.execution_count, offset, header, True)
        return CellRef(fallback_key, running.execution_count, offset, header, False)


def text_key(*parts: str) -> str:
    """A stable key from text (used when there is no cell id)."""
    digest = hashlib.sha1("\0".join(parts).encode("utf-8"), usedforsecurity=False)
    return "text:" + digest.hexdigest()
