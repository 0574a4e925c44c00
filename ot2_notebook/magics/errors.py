"""Exceptions of the ``%ot2_*`` magics, which show themselves as a short report.

IPython prints an exception raised in a cell with its traceback, unless the exception has a
``_render_traceback_`` method: then it prints the lines that method returns. The magics'
exceptions use that, so a failing cell shows only what the scientist needs (which cell,
which line, what is wrong, what is on the robot now, what to do) and none of the
extension's own frames. The cell still fails, so nbval and papermill see the error.

Bad magic arguments raise IPython's ``UsageError`` instead (printed without a traceback by
IPython itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ot2_notebook.magics.cellmap import CellRef, Location

if TYPE_CHECKING:
    from ot2_notebook.client import RobotError

__all__ = [
    "BundleCheckError",
    "CellProblem",
    "OT2MagicError",
    "ProtocolCellError",
    "RobotRequestError",
]


@dataclass(frozen=True)
class CellProblem:
    """One error placed in the notebook: where (``location``), what kind (``SyntaxError``,
    ``ValueError`` ...) and the message; ``column``/``end_column`` (1-based, in the quoted line)
    when known, to point at it."""

    location: Location
    kind: str
    message: str
    column: int | None = None
    end_column: int | None = None

    def lines(self) -> list[str]:
        """The problem as report lines: where, the quoted line (and a caret), what."""
        out = [f"{self.location.where()}:"]
        text = self.location.text
        if text is not None:
            stripped = text.rstrip()
            indent = len(stripped) - len(stripped.lstrip())
            out.append("    " + stripped.lstrip())
            if self.column is not None and self.column > indent:
                start = self.column - 1 - indent
                width = 1
                if self.end_column is not None and self.end_column > self.column:
                    width = self.end_column - self.column
                out.append("    " + " " * start + "^" * max(1, width))
        out.append(f"{self.kind}: {self.message}" if self.kind else self.message)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class OT2MagicError(Exception):
    """An ``%ot2_*`` magic failed; the message says what happened and what to do.

    Shown by IPython as the message alone (``_render_traceback_``), without the traceback
    of the extension's frames.
    """

    def __init__(self, message: str) -> None:
        # Not super(): subclasses also derive from client errors with other signatures.
        Exception.__init__(self, message)
        self.report = message

    def __str__(self) -> str:
        return self.report

    def _render_traceback_(self) -> list[str]:
        """What IPython prints for this exception instead of a traceback."""
        lines = str(self).splitlines() or [""]
        return [f"{type(self).__name__}: {lines[0]}", *lines[1:]]


class RobotRequestError(OT2MagicError):
    """The robot refused or failed a request a magic made (unreachable, full, feature off...).

    ``robot_error`` is the client's :class:`~ot2_notebook.RobotError` (also ``__cause__``),
    whose message and hint are part of this one.
    """

    def __init__(self, doing: str, robot_error: RobotError, state: str | None = None) -> None:
        self.robot_error = robot_error
        self.doing = doing
        self.state = state
        message = f"{doing} failed: {robot_error}"
        if state:
            message += f"\n{state}"
        super().__init__(message)


class ProtocolCellError(OT2MagicError):
    """A protocol built from notebook cells has errors, each placed in a cell and a line.

    Raised for the local checks before an upload, for the robot's analysis errors and for
    run errors. ``protocol_name`` is the protocol's name, ``problems`` the
    :class:`CellProblem` list (``problems[0].location.cell`` is the notebook cell,
    ``.cell_line`` the line within it), ``robot_state`` says what is on the robot now and
    ``advice`` what to do. ``str(error)`` is the whole report.
    """

    def __init__(
        self,
        headline: str,
        problems: Sequence[CellProblem],
        *,
        protocol: str,
        robot_state: str = "",
        advice: str = "",
    ) -> None:
        self._set_report(headline, problems, protocol, robot_state, advice)
        OT2MagicError.__init__(self, self.report)

    def _set_report(
        self,
        headline: str,
        problems: Sequence[CellProblem],
        protocol: str,
        robot_state: str,
        advice: str,
    ) -> None:
        self.headline = headline
        self.problems: tuple[CellProblem, ...] = tuple(problems)
        self.protocol_name = protocol
        self.robot_state = robot_state
        self.advice = advice
        blocks = [headline]
        blocks += [str(p) for p in self.problems]
        tail = " ".join(t for t in (robot_state, advice) if t)
        if tail:
            blocks.append(tail)
        self.report = "\n".join(blocks)

    @property
    def locations(self) -> tuple[Location, ...]:
        return tuple(p.location for p in self.problems)

    @property
    def cell(self) -> CellRef | None:
        """The notebook cell of the first problem (``None`` if it is not from a cell)."""
        return self.problems[0].location.cell if self.problems else None

    @property
    def cell_line(self) -> int | None:
        """The line within that cell."""
        return self.problems[0].location.cell_line if self.problems else None

    @property
    def execution_count(self) -> int | None:
        """``N`` of the first problem's ``In [N]``."""
        cell = self.cell
        return cell.execution_count if cell is not None else None


class BundleCheckError(ProtocolCellError):
    """The local checks found errors before anything was sent to the robot."""
