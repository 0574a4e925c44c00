"""Map a line of a bundled file back to the notebook cell it came from.

The robot (and Python's compiler) report errors by line of the *uploaded* file: ``dilution.py``
line 27. A scientist wrote that file as three ``%%ot2_protocol dilution --part`` cells with prose
between them, and needs to read ``In [9], line 4`` and see the offending line. This module keeps
that mapping: it joins cell bodies into one file and remembers which lines each cell supplied.

Plain Python on purpose: no IPython, no HTTP, so it is unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CellMap", "CellRef", "Location", "Segment", "join_cells", "line_of"]


@dataclass(frozen=True)
class CellRef:
    """One run of a notebook cell, as the bundle remembers it.

    ``key`` identifies the cell across re-runs (the cell id the front end sends, or a
    fallback when it sends none); ``execution_count`` is its ``In [N]`` for this run
    (``None`` when the run kept no history, as under nbval); ``body_offset`` is how many cell
    lines come before the magic's body (1: the ``%%`` line itself); ``header`` is that first
    line as typed, used to name the cell when there is no execution count.
    """

    key: str
    execution_count: int | None
    body_offset: int = 1
    header: str = ""
    has_cell_id: bool = False

    @property
    def label(self) -> str:
        """``In [7]``, or the cell's magic line when the run has no execution count."""
        if self.execution_count is not None:
            return f"In [{self.execution_count}]"
        return f"the cell {self.header!r}" if self.header else "the cell"

    def cell_line(self, body_line: int) -> int:
        """The line within the cell (as Jupyter numbers it) of line ``body_line`` of the body."""
        return body_line + self.body_offset


@dataclass(frozen=True)
class Segment:
    """The lines ``first_line .. first_line + line_count - 1`` of a file came from ``cell``."""

    cell: CellRef
    first_line: int
    line_count: int

    @property
    def last_line(self) -> int:
        return self.first_line + self.line_count - 1


@dataclass(frozen=True)
class CellMap:
    """Which cell supplied which lines of one bundled file (segments in file order)."""

    segments: tuple[Segment, ...]

    @property
    def line_count(self) -> int:
        return self.segments[-1].last_line if self.segments else 0

    def locate(self, line: int) -> tuple[int, CellRef, int] | None:
        """``(part index, cell, line within the body)`` of file line ``line`` (1-based).

        A line just past the end (where Python reports "unexpected end of input") belongs to
        the last non-empty part, at its last line; ``None`` if the file came from no cell.
        """
        if not self.segments or line < 1:
            return None
        for index, segment in enumerate(self.segments):
            if segment.line_count and segment.first_line <= line <= segment.last_line:
                return index, segment.cell, line - segment.first_line + 1
        for index in range(len(self.segments) - 1, -1, -1):
            segment = self.segments[index]
            if segment.line_count:
                return index, segment.cell, segment.line_count
        return len(self.segments) - 1, self.segments[-1].cell, 1


def _normalized(text: str) -> str:
    """The text with ``\\n`` line ends and, unless empty, a final newline (so that joined
    parts never run into each other's lines)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def join_cells(parts: Sequence[tuple[CellRef, str]]) -> tuple[str, CellMap]:
    """Join cell bodies into one file, in order, and map its lines back to the cells.

    Nothing is inserted between parts, so a single-part file is exactly the cell's body and
    its line numbers are the body's.
    """
    chunks: list[str] = []
    segments: list[Segment] = []
    next_line = 1
    for cell, body in parts:
        text = _normalized(body)
        count = text.count("\n")
        segments.append(Segment(cell, next_line, count))
        chunks.append(text)
        next_line += count
    return "".join(chunks), CellMap(tuple(segments))


def line_of(text: str, line: int | None) -> str | None:
    """Line ``line`` (1-based) of ``text`` without its line end; ``None`` if out of range."""
    if line is None or line < 1:
        return None
    lines = text.splitlines()
    if line > len(lines):
        return None
    return lines[line - 1]


@dataclass(frozen=True)
class Location:
    """Where a problem is: in a bundled file, and in the notebook when that line came from a
    cell (or on disk when it came from a ``--support`` file).

    ``file`` is the bundled file's name; ``file_line`` the line in it (``None`` when the error
    has no line); ``cell`` and ``cell_line`` the notebook cell and the line within it; ``part``
    ``(index, count)`` for protocols written over several ``--part`` cells; ``path`` the file
    on disk; ``text`` the quoted line.
    """

    file: str
    file_line: int | None = None
    cell: CellRef | None = None
    cell_line: int | None = None
    text: str | None = None
    path: str | None = None
    part: tuple[int, int] | None = None
    role: str = "protocol"
    #: The cells the whole file came from, when the error has no line to pick one.
    cells: tuple[CellRef, ...] = ()

    @property
    def label(self) -> str:
        """What to call the place: ``In [7]``, a disk path, or the bundled file name."""
        if self.cell is not None:
            return self.cell.label
        return self.path or self.file

    @property
    def line(self) -> int | None:
        """The line the user should look at: within the cell, else within the file."""
        return self.cell_line if self.cell is not None else self.file_line

    def where(self) -> str:
        """``In [9], line 4 (part 3 of 3 of dilution.py, line 27)`` and similar."""
        if self.cell is not None:
            head = self.cell.label
            if self.cell_line is not None:
                head += f", line {self.cell_line}"
            notes: list[str] = []
            if self.role == "support":
                notes.append(f"support file {self.file}")
            elif self.part is not None and self.part[1] > 1:
                notes.append(f"part {self.part[0] + 1} of {self.part[1]} of {self.file}")
            else:
                notes.append(self.file)
            if self.file_line is not None and (self.part is not None and self.part[1] > 1):
                notes[-1] += f", line {self.file_line}"
            return f"{head} ({'; '.join(notes)})"
        name = self.path or self.file
        if self.file_line is not None:
            return f"{name}, line {self.file_line}"
        if self.cells:
            return f"{name} (from {', '.join(c.label for c in self.cells)})"
        return name
