"""Local checks of a bundle before it is uploaded, and the errors that place them in cells.

Catching a typo here takes microseconds and leaves the robot untouched; the robot's analysis
would find most of these too, but only after an upload that replaced the protocol on it. The
checks: every name is a plain file name (the repository's one rule, :mod:`ot2_notebook.names`,
so the magics, the client and the simulated robot refuse the same names with the same
words), no two files share a name, Python files compile, JSON files parse (and JSON that
looks like a labware definition has the keys a robot needs to load it), and text files are
UTF-8. The ``require_*`` functions raise :class:`~ot2_notebook.magics.errors.BundleCheckError`
with each problem placed in its notebook cell and line. :func:`labware_definitions` picks the
labware definitions out of an upload's files (for the panels' deck drawing).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ot2_notebook.magics.bundle import BuiltBundle, BundledFile
from ot2_notebook.magics.errors import BundleCheckError, CellProblem
from ot2_notebook.names import file_name_problem

__all__ = [
    "Problem",
    "check_bundle",
    "check_file",
    "is_incomplete_input",
    "labware_definitions",
    "located",
    "require_clean_bundle",
    "require_clean_file",
    "require_clean_part",
]


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


def _json_problem(name: str, text: str, exc: json.JSONDecodeError) -> Problem:
    """A JSON syntax error, placed the same on every Python: Python 3.13 names a trailing
    comma ("Illegal trailing comma before end of object", at the comma); earlier versions
    report it at the closing bracket as "Expecting property name enclosed in double quotes"
    or "Expecting value". Those are turned into 3.13's words and place."""
    message, position = exc.msg, exc.pos
    before = text[:position].rstrip()
    closing = text[position : position + 1]
    if closing in ("}", "]") and before.endswith(","):
        position = len(before) - 1
        message = f"Illegal trailing comma before end of {'object' if closing == '}' else 'array'}"
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return Problem(name, "JSONDecodeError", message, line=line, column=column)


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


def labware_definitions(files: Iterable[BundledFile]) -> list[dict[str, Any]]:
    """The labware definitions among an upload's support files (JSON that reads as a
    complete definition), for drawing the deck: what the robot loads as custom labware."""
    found = []
    for bundled in files:
        if bundled.role != "support" or not bundled.name.lower().endswith(".json"):
            continue
        try:
            data = json.loads(bundled.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if _looks_like_labware(data) and _labware_problem(bundled.name, data) is None:
            found.append(data)
    return found


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
        compiled, syntax_error = found
        incomplete = is_incomplete_input(syntax_error, text)
        return [dataclasses.replace(compiled, incomplete=incomplete)]
    if suffix == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [_json_problem(bundled.name, text, exc)]
        if _looks_like_labware(data):
            if bundled.role == "protocol":
                return [
                    Problem(
                        bundled.name,
                        "NotAProtocol",
                        "this is a labware definition, not a protocol: send it with a protocol "
                        "as a support file (%%ot2_support NAME.json, or --support PATH), and "
                        "load it with ctx.load_labware(LOAD_NAME, SLOT, namespace=...)",
                    )
                ]
            labware = _labware_problem(bundled.name, data)
            return [labware] if labware else []
        if bundled.role == "protocol" and not isinstance(data, Mapping):
            return [
                Problem(
                    bundled.name,
                    "NotAProtocol",
                    "a JSON protocol is one object ({...}) as Protocol Designer exports it",
                )
            ]
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
        bad_name = file_name_problem(bundled.name, f"{bundled.role} file")
        if bad_name:
            problems.append(Problem(bundled.name, "FileNameError", bad_name))
            continue
        first = seen.get(bundled.name)
        if first is not None:
            problems.append(Problem(bundled.name, "NameClash", _clash(bundled, first)))
            continue
        seen[bundled.name] = bundled
        problems.extend(check_file(bundled))
    protocol = built.protocol
    unread = {item.path for item in built.unreadable}
    if not protocol.text.strip() and (protocol.path is None or protocol.path not in unread):
        where = (
            f"the file {protocol.path} is empty"
            if protocol.path is not None
            else "the protocol is empty: write it below the %%ot2_protocol line"
        )
        problems.append(Problem(protocol.name, "EmptyProtocol", where))
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


# -- the problems placed in cells, as the error a failing cell raises ------------------------


def located(built: BuiltBundle, problems: Sequence[Problem]) -> list[CellProblem]:
    """``problems`` placed in the notebook cells ``built`` came from."""
    return [
        CellProblem(built.locate(p.file, p.line), p.kind, p.message, p.column, p.end_column)
        for p in problems
    ]


def require_clean_bundle(built: BuiltBundle, advice: str, robot_state: str) -> None:
    """Raise :class:`BundleCheckError` for anything the checks find in ``built``."""
    problems = check_bundle(built)
    if not problems:
        return
    count = len(problems)
    raise BundleCheckError(
        f"Protocol {built.name!r} has {count} error{'s' if count > 1 else ''}; nothing was "
        "uploaded.",
        located(built, problems),
        protocol=built.name,
        robot_state=robot_state,
        advice=advice,
    )


def require_clean_part(built: BuiltBundle, key: str, last_part: bool, robot_state: str) -> None:
    """The checks of one ``--part`` cell (``key``): only errors in that cell, and not "the
    code stops too early" when the cell is the last part so far (``last_part``), since more
    parts may follow."""
    problems = check_bundle(built)
    mine = []
    for problem, where in zip(problems, located(built, problems), strict=True):
        cell = where.location.cell
        if cell is None or cell.key != key:
            continue
        if problem.incomplete and last_part:
            continue
        mine.append(where)
    if mine:
        raise BundleCheckError(
            f"This part of protocol {built.name!r} has an error.",
            mine,
            protocol=built.name,
            robot_state=robot_state,
            advice="Fix the cell and run it again.",
        )


def require_clean_file(bundled: BundledFile, protocol: str, robot_state: str) -> None:
    """The checks of one support cell on its own (``protocol``: a protocol it clashes with)."""
    problems = check_file(bundled)
    if problems:
        raise BundleCheckError(
            f"Support file {bundled.name!r} has an error.",
            [
                CellProblem(bundled.locate(p.line), p.kind, p.message, p.column, p.end_column)
                for p in problems
            ],
            protocol=protocol,
            robot_state=robot_state,
            advice="Fix the cell and run it again.",
        )
