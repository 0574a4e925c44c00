"""Errors of robot software 5+ (``/protocols`` + ``/runs``) in the client's terms.

Two kinds:

* what a protocol did wrong, in an analysis or a run (``errors[]`` items ``{errorType,
  detail, errorInfo, wrappedErrors}``), or in an upload the robot refused (422
  ``ProtocolFilesInvalid``), become the same :class:`~ot2_notebook.client.ProtocolErrorInfo`
  a 4.x robot's errors give (type, message, file, line, exception type), with the line
  mapped back from the packed protocol file to the bundle's own file
  (:class:`~ot2_notebook.client.packing.BundleKey`): the line of the protocol file, or of the
  embedded helper module the exception came from (the deepest frame of the robot's traceback
  that is in one of the bundle's files);
* what the robot refused over HTTP (409s of the one-current-run rule and of the run's
  state, 404s of protocols and runs it no longer keeps) become the
  :class:`~ot2_notebook.RobotError` subclasses a user acts on, with what to do.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import CommandNotAllowedError, NotFoundError, RobotError
from ot2_notebook.client.models import ProtocolErrorInfo
from ot2_notebook.client.packing import BundleKey

__all__ = [
    "ProtocolInUseError",
    "ProtocolsPrunedWarning",
    "RunActionNotAllowedError",
    "RunAlreadyActiveError",
    "error_info",
    "limits_hint",
    "rejection_info",
    "translate",
]

#: What robot software 5+ keeps, and drops without saying so.
LIMITS_HINT = (
    "Robot software 5 and later keep at most 5 protocols that no run uses (uploading a 6th "
    "deletes the oldest of them) and the 20 newest runs."
)

_LINE_IN_DETAIL = re.compile(r"\[line (\d+)\]")
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_REJECTED_AT = re.compile(r"^(?P<message>.*) \((?P<file>[^()]+\.py), line (?P<line>\d+)\)$", re.S)
_SYNTAX_CLASSES = frozenset({"SyntaxError", "IndentationError", "TabError"})


def limits_hint() -> str:
    return LIMITS_HINT


def _innermost(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The chain from ``error`` down through its first wrapped errors."""
    chain = [error]
    current = error
    for _ in range(20):
        wrapped = current.get("wrappedErrors")
        if not isinstance(wrapped, list) or not wrapped or not isinstance(wrapped[0], Mapping):
            break
        current = wrapped[0]
        chain.append(current)
    return chain


def _info(error: Mapping[str, Any]) -> Mapping[str, Any]:
    info = error.get("errorInfo")
    return info if isinstance(info, Mapping) else {}


def _bundle_files(main_file: str, key: BundleKey | None) -> tuple[str, frozenset[str]]:
    modules = {f for f in key.files if f.endswith(".py")} if key is not None else set()
    return main_file, frozenset({main_file, *modules})


def _place(
    file: str | None, line: int | None, main_file: str, key: BundleKey | None
) -> tuple[str | None, int | None]:
    """A (file, line) of the packed upload as the bundle's own (file, line)."""
    if file is None or line is None:
        return file, line
    if file == main_file and key is not None:
        return file, key.protocol_line(line)
    return file, line


def _deepest_frame(
    chain: Sequence[Mapping[str, Any]], files: Collection[str]
) -> tuple[str, int] | None:
    """The deepest frame in a bundle file of the outermost traceback that has one (inner
    errors are the causes the robot's own code met on the way)."""
    for error in chain:
        traceback = _info(error).get("traceback")
        if not isinstance(traceback, str):
            continue
        frames = [(m.group(1), int(m.group(2))) for m in _FRAME.finditer(traceback)]
        for name, line in reversed(frames):
            if name in files:
                return name, line
    return None


def _message(detail: str, cls: str | None) -> str:
    """``RuntimeError [line 8]: failed`` / ``RuntimeError: failed`` -> ``failed``."""
    text = detail.strip()
    if cls and text.startswith(cls):
        rest = text[len(cls) :]
        rest = _LINE_IN_DETAIL.sub("", rest, count=1).lstrip()
        if rest.startswith(":"):
            return rest[1:].strip()
    return text


def error_info(
    error: Mapping[str, Any], main_file: str, key: BundleKey | None = None
) -> ProtocolErrorInfo:
    """One analysis or run error of robot software 5+ as a :class:`ProtocolErrorInfo`,
    placed in the bundle's files (see the module doc)."""
    chain = _innermost(error)
    outer = chain[0]
    error_type = str(outer.get("errorType") or "Error")
    detail = str(outer.get("detail") or "")
    python = [e for e in chain if _info(e).get("class")]
    deepest = python[0] if python else None  # the exception the protocol met; then causes
    cls = str(_info(deepest).get("class")) if deepest is not None else None
    inner_detail = str(deepest.get("detail") or "") if deepest is not None else detail
    main, files = _bundle_files(main_file, key)
    file: str | None = None
    line: int | None = None
    if cls in _SYNTAX_CLASSES and deepest is not None:
        info = _info(deepest)
        name = str(info.get("filename") or "")
        number = info.get("lineno")
        if name in files and isinstance(number, (str, int)) and str(number).isdigit():
            file, line = name, int(number)
            message = str(info.get("msg") or _message(inner_detail, cls))
            file, line = _place(file, line, main, key)
            return ProtocolErrorInfo(cls, message, line, file, cls)
    frame = _deepest_frame(chain, files)
    if frame is not None:
        file, line = frame
    else:
        match = _LINE_IN_DETAIL.search(detail)
        if match:
            file, line = main, int(match.group(1))
    file, line = _place(file, line, main, key)
    if error_type == "PythonException" and cls:
        return ProtocolErrorInfo(cls, _message(inner_detail, cls), line, file, cls)
    message = _message(inner_detail, cls) if cls else _message(detail, error_type)
    return ProtocolErrorInfo(error_type, message, line, file, cls)


def rejection_info(detail: str, main_file: str, key: BundleKey | None) -> ProtocolErrorInfo:
    """A 422 ``ProtocolFilesInvalid`` of an upload (the robot stores nothing): a syntax error
    names its file and line (``expected ':' (basic_transfer.py, line 3)``)."""
    match = _REJECTED_AT.match(detail.strip())
    if match:
        file, line = _place(match.group("file"), int(match.group("line")), main_file, key)
        return ProtocolErrorInfo("SyntaxError", match.group("message"), line, file, "SyntaxError")
    return ProtocolErrorInfo("ProtocolFilesInvalid", detail, None, None)


class RunActionNotAllowedError(CommandNotAllowedError):
    """409 ``RunActionNotAllowed``/``RunStopped``: the run's state does not allow this
    command (robot software 5+). ``robot_status`` is the robot's own run status."""

    def __init__(self, *args: Any, robot_status: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.robot_status = robot_status

    def _default_hint(self) -> str:
        state = self.state
        if state is None:
            return "Refresh the session (session.refresh()) and check session.allowed_commands."
        allowed = sorted(
            states.short_name(c) for c in states.RUNS_ALLOWED_COMMANDS.get(state, frozenset())
        )
        if allowed:
            return f"In state {state!r} the run accepts: {', '.join(allowed)}."
        return (
            f"In state {state!r} the run accepts no command (a run of robot software 5+ is "
            "run once): start a new one with robot.create_session(PROTOCOL_ID)."
        )


class RunAlreadyActiveError(RobotError):
    """409 ``RunAlreadyActive``: another run is running or paused; robot software 5+ has
    one current run, and a new one can be created only once it is idle or over."""

    def __init__(self, *args: Any, current_run: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current_run = current_run

    def _default_hint(self) -> str:
        run = repr(self.current_run) if self.current_run else "ID"
        return (
            "The robot runs one protocol at a time. Wait for the current run to end, or stop "
            f"it: robot.session({run}).cancel() (or Cancel in its run panel); then try again."
        )


class ProtocolInUseError(RobotError):
    """409 ``ProtocolUsedByRun``: runs still refer to the protocol, so the robot keeps it."""

    def __init__(self, *args: Any, runs: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: tuple[str, ...] = tuple(runs)

    def _default_hint(self) -> str:
        runs = ", ".join(self.runs) if self.runs else "its runs"
        return (
            f"Delete the runs of this protocol first ({runs}: robot.session(ID).delete(), or "
            "%ot2_cleanup), then delete the protocol."
        )


class ProtocolsPrunedWarning(UserWarning):
    """Robot software 5+ deleted protocols to make room for an upload (it keeps at most 5
    that no run uses, and says nothing)."""


def translate(
    exc: RobotError,
    *,
    state: str | None = None,
    command: str | None = None,
    robot_status: str | None = None,
) -> RobotError:
    """The client's error for a failure answer of robot software 5+ (``exc`` as the
    transport raised it); ``state``, ``robot_status``, ``command``: the session state, the
    robot's run status and the session command this request was for (for 409s about the
    run's state)."""
    error_id = exc.error_id or ""
    args = (exc.status, exc.error_id, exc.title, exc.detail, exc.request)
    kwargs: dict[str, Any] = {"source": exc.source, "entries": exc.entries}
    if exc.status == 404 and error_id in ("ProtocolNotFound", "RunNotFound", "CommandNotFound"):
        kind = {"ProtocolNotFound": "protocol", "RunNotFound": "run"}.get(error_id, "command")
        hint = (
            f"The {kind} is not on the robot (deleted, or the robot restarted). {LIMITS_HINT} "
            "List what it holds with robot.protocols() and robot.sessions()."
        )
        return NotFoundError(*args, hint=hint, **kwargs)
    if exc.status == 409 and error_id == "RunAlreadyActive":
        return RunAlreadyActiveError(*args, **kwargs)
    if exc.status == 409 and error_id == "ProtocolUsedByRun":
        return ProtocolInUseError(*args, **kwargs)
    if exc.status == 409 and error_id in ("RunActionNotAllowed", "RunStopped"):
        if command is not None and state is not None:
            detail = f"Can't execute '{command}' during state '{state}' ({exc.detail})"
            return RunActionNotAllowedError(
                exc.status,
                exc.error_id,
                exc.title,
                detail,
                exc.request,
                robot_status=robot_status,
                **kwargs,
            )
        return RunActionNotAllowedError(*args, **kwargs)
    return exc
