"""Local checks of a bundle before it is uploaded.

Catching a typo here takes microseconds and leaves the robot untouched; the robot's analysis
would find most of these too, but only after an upload that replaced the protocol on it. The
checks: every name is a plain file name, no two files share a name, Python files compile,
JSON files parse (and JSON that looks like a labware definition has the keys a robot needs to
load it), and text files are UTF-8.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ot2_notebook.magics.bundle import BuiltBundle, BundledFile

__all__ = [
    "Problem",
    "check_bundle",
    "check_file",
    "check_file_name",
    "check_protocol_name",
    "is_incomplete_input",
]

_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_MAX_NAME = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundled file: ``line`` and ``column`` (1-based) in that file when
    known, ``kind`` (``SyntaxError``, ``JSONDecodeError``, ``NameClash`` ...), ``message``."""

    file: str
    kind: str
    message: str
    line: int | None = None
    column: int | None = None
    end_column: int | None = None
    #: A syntax error that only says the code stops too early (see :func:`is_incomplete_input`).
    incomplete: bool = False


def check_file_name(name: str, what: str = "file") -> str | None:
    """Why ``name`` is not a safe bundled file name, or ``None`` if it is.

    The robot stores a protocol's files side by side in one folder, so a name is a plain base
    name: letters, digits, ``_``, ``-`` and ``.``, not starting with a dot or a dash.
    """
    if not name:
        return f"the {what} name is empty"
    if "/" in name or "\\" in name:
        return (
            f"{what} name {name!r} contains a folder: give a plain file name like "
            "'helpers.py' (the robot keeps all files of a protocol in one folder)"
        )
    if len(name) > _MAX_NAME:
        return f"{what} name {name[:20]!r}... is longer than {_MAX_NAME} characters"
    if not _SAFE_NAME.fullmatch(name) or name in (".", ".."):
        return (
            f"{what} name {name!r} is not a safe file name: use letters, digits, '_', '-' "
            "and '.', starting with a letter, digit or '_'"
        )
    return None


def check_protocol_name(name: str) -> str | None:
    """Why ``name`` cannot be a protocol name (its id on the robot), or ``None``."""
    problem = check_file_name(name, "protocol")
    if problem is None and name.endswith("."):
        problem = f"protocol name {name!r} must not end with '.'"
    return problem


def is_incomplete_input(error: SyntaxError, text: str) -> bool:
    """Whether a syntax error only says the code stops too early (an open bracket, a
    ``def`` with its body still to come): what a ``--part`` cell followed by more parts
    legitimately looks like."""
    message = (error.msg or "").lower()
    last_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if error.lineno is not None and error.lineno > last_line:
        return True
    return (
        "was never closed" in message
        or "unexpected eof" in message
        or (
            "expected an indented block" in message
            and error.lineno is not None
            and error.lineno >= last_line
        )
    )


def _syntax_problem(file: str, exc: SyntaxError) -> Problem:
    kind = type(exc).__name__
    message = exc.msg or "invalid syntax"
    end = getattr(exc, "end_offset", None)
    return Problem(
        file,
        kind,
        message,
        line=exc.lineno,
        column=exc.offset,
        end_column=end if end and exc.offset and end > exc.offset else None,
    )


def compile_problem(file: str, text: str) -> tuple[Problem, SyntaxError] | None:
    """The first compile error in Python source ``text`` (the compiler stops at the first)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not our business
            compile(text, file, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return _syntax_problem(file, exc), exc
    except ValueError as exc:  # source containing NUL bytes
        return Problem(file, "ValueError", str(exc)), SyntaxError(str(exc))
    return None


_LABWARE_KEYS = ("namespace", "version", "parameters", "wells", "ordering", "dimensions")


def _looks_like_labware(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and "wells" in data
        and ("parameters" in data or "ordering" in data or "schemaVersion" in data)
    )


def _labware_problem(file: str, data: Mapping[str, Any]) -> Problem | None:
    missing = [key for key in _LABWARE_KEYS if key not in data]
    parameters = data.get("parameters")
    if isinstance(parameters, Mapping) and "loadName" not in parameters:
        missing.append("parameters.loadName")
    if not missing:
        return None
    return Problem(
        file,
        "LabwareDefinitionError",
        "this looks like a labware definition but lacks "
        + ", ".join(repr(m) for m in missing)
        + " (export the definition from the Opentrons Labware Creator)",
    )


def check_file(bundled: BundledFile) -> list[Problem]:
    """The problems of one file on its own: encoding, Python syntax, JSON."""
    suffix = bundled.name.rsplit(".", 1)[-1].lower() if "." in bundled.name else ""
    if suffix not in ("py", "json", "csv", "txt", "tsv"):
        return []
    try:
        text = bundled.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = bundled.content[: exc.start].count(b"\n") + 1
        return [
            Problem(
                bundled.name,
                "UnicodeDecodeError",
                f"the file is not UTF-8 text (byte 0x{bundled.content[exc.start]:02x}); "
                "save it as UTF-8",
                line=line,
            )
        ]
    if suffix == "py":
        found = compile_problem(bundled.name, text)
        if found is None:
            return []
        problem, exc = found
        return [dataclasses.replace(problem, incomplete=is_incomplete_input(exc, text))]
    if suffix == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [
                Problem(bundled.name, "JSONDecodeError", exc.msg, line=exc.lineno, column=exc.colno)
            ]
        if _looks_like_labware(data):
            problem = _labware_problem(bundled.name, data)
            return [problem] if problem else []
    return []


def check_bundle(built: BuiltBundle) -> list[Problem]:
    """Every problem found in ``built``, in file order (the protocol file first)."""
    problems: list[Problem] = []
    for item in built.unreadable:
        problems.append(
            Problem(item.path.name, "FileNotReadable", f"cannot read {item.path}: {item.reason}")
        )
    seen: dict[str, BundledFile] = {}
    for bundled in built.files:
        bad_name = check_file_name(bundled.name, f"{bundled.role} file")
        if bad_name:
            problems.append(Problem(bundled.name, "FileNameError", bad_name))
            continue
        first = seen.get(bundled.name)
        if first is not None:
            problems.append(Problem(bundled.name, "NameClash", _clash(bundled, first)))
            continue
        seen[bundled.name] = bundled
        problems.extend(check_file(bundled))
    if not built.protocol.text.strip():
        problems.append(
            Problem(
                built.protocol.name,
                "EmptyProtocol",
                "the protocol is empty: write it below the %%ot2_protocol line",
            )
        )
    return problems


def _origin(bundled: BundledFile) -> str:
    if bundled.path is not None:
        return f"the file {bundled.path}"
    cells = bundled.cells()
    if bundled.role == "protocol":
        return "the protocol itself"
    return f"the support cell {cells[0].label}" if cells else "a support file"


def _clash(second: BundledFile, first: BundledFile) -> str:
    return (
        f"two files are named {second.name!r}: {_origin(first)} and {_origin(second)}. The "
        "robot keeps one file per name in a protocol's folder: rename one of them"
    )
