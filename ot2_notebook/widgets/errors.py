"""Where an error is in the notebook, as the panels show it.

The robot reports an error's line in the *bundled* protocol file. The magics know which
notebook cell each line came from and hand the panels :class:`ErrorLocation` objects, so a
scientist reads ``In [5], line 3: ...`` and the offending source line instead of a line
number in a file they never wrote by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from ot2_notebook.client.models import ProtocolErrorInfo

__all__ = ["ErrorLocation", "describe_error"]


@dataclass(frozen=True)
class ErrorLocation:
    """One error, placed in the notebook.

    ``label`` names where the code came from: a cell's prompt (``"In [5]"``) or a file name
    (``"helpers.py"``); ``None`` when unknown. ``line`` is the 1-based line within that cell
    or file, ``source_line`` its text (shown quoted under the message). ``message`` is what
    went wrong (``"volume must be positive"``); ``error_type`` the exception's type when
    known (``"ValueError"``).
    """

    label: str | None
    line: int | None
    source_line: str | None
    message: str
    error_type: str | None = None

    @property
    def where(self) -> str:
        """``"In [5], line 3"``, ``"In [5]"``, ``"line 3"`` or ``""``."""
        parts = []
        if self.label:
            parts.append(self.label)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)

    @property
    def headline(self) -> str:
        """``"ValueError: volume must be positive"`` (the type only when known)."""
        if self.error_type and not self.message.startswith(self.error_type):
            return f"{self.error_type}: {self.message}"
        return self.message

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.headline}" if where else self.headline

    @classmethod
    def from_error_info(cls, info: ProtocolErrorInfo) -> ErrorLocation:
        """An error placed only in the bundled file (when no cell mapping is known)."""
        error_type = info.exception_type or info.type
        if info.exception_type and info.type not in (info.exception_type, "Error"):
            # "ExceptionInProtocolError" says little; the exception type says what happened.
            error_type = info.exception_type
        return cls(
            label=info.file,
            line=info.line,
            source_line=None,
            message=info.description,
            error_type=error_type,
        )


def describe_error(info: ProtocolErrorInfo | ErrorLocation) -> ErrorLocation:
    """Either kind of error as an :class:`ErrorLocation`."""
    return info if isinstance(info, ErrorLocation) else ErrorLocation.from_error_info(info)
