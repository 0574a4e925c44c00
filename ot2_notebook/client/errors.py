"""Errors raised by the robot client, and the parsing of the robot's error envelopes.

Every failure a user can meet talking to an OT-2 becomes a :class:`RobotError` whose message
says what happened *and what to do*. Subclasses exist only where the user acts differently
(start a simulator, turn on a feature flag, delete a protocol, wait for another state...).

Robot software 4.x answers failures in two envelopes, both read here:

* ``{"errors": [{"id" | "status", "title", "detail", "source"?}], "links"?}`` on the
  session/protocol routes (4.0-4.3 send ``status``, 4.4-4.7 send ``id``);
* ``{"message": "..."}`` on legacy routes (``/health``, ``/settings``).

Anything else (HTML from a proxy, an empty body, FastAPI's ``{"detail": ...}``) is still
turned into a readable :class:`RobotError`: no ``KeyError`` or ``JSONDecodeError`` ever
reaches the user from a malformed answer.

This module imports nothing else of the client but its plain data: the errors that carry a
protocol or a session describe what they read of it (:class:`ProtocolView`,
:class:`SessionView`), which the client's ``Protocol`` and ``Session`` handles satisfy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ot2_notebook.session_states import ALLOWED_COMMANDS, short_name

if TYPE_CHECKING:
    from ot2_notebook.client.models import ProtocolErrorInfo
    from ot2_notebook.client.preflight import PreflightReport

__all__ = [
    "AnalysisError",
    "CommandNotAllowedError",
    "EquipmentMismatchError",
    "ErrorEntry",
    "FeatureDisabledError",
    "NoCurrentRobotError",
    "NotFoundError",
    "ProtocolExistsError",
    "ProtocolView",
    "RobotError",
    "RobotTimeoutError",
    "RobotUnreachableError",
    "RunCancelledError",
    "RunError",
    "SessionNotActiveError",
    "SessionTimeoutError",
    "SessionView",
    "StopRefusedError",
    "UnexpectedResponseError",
    "UnknownRobotError",
    "UploadLimitError",
    "error_from_response",
    "parse_error_body",
]

_FEATURE_FLAG = "enableHttpProtocolSessions"
_ENABLE_SESSIONS_HINT = (
    "Turn on HTTP protocol sessions: in the Opentrons App open the robot, then Advanced "
    "Settings, and switch on 'Enable Experimental HTTP Protocol Sessions'; or from Python: "
    f'robot.set_setting("{_FEATURE_FLAG}", True). Then try again.'
)


class ProtocolView(Protocol):
    """What an error reads of a stored protocol (the client's ``Protocol`` handle is one)."""

    @property
    def id(self) -> str: ...

    @property
    def errors(self) -> tuple[ProtocolErrorInfo, ...]: ...


class SessionView(Protocol):
    """What an error reads of a protocol session (the client's ``Session`` handle is one)."""

    @property
    def id(self) -> str: ...

    @property
    def protocol_id(self) -> str: ...

    @property
    def state(self) -> str: ...


@dataclass(frozen=True)
class ErrorEntry:
    """One item of a 4.x ``errors`` array."""

    id: str | None
    status: str | None
    title: str
    detail: str
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str | None:
        """``source`` as text: ``header opentrons-version``, ``/data/data`` ..."""
        if not self.source:
            return None
        if "pointer" in self.source:
            return str(self.source["pointer"])
        key, value = next(iter(self.source.items()))
        return f"{key} {value}"


@dataclass(frozen=True)
class ParsedError:
    """What :func:`parse_error_body` understood of a failure response."""

    error_id: str | None
    title: str
    detail: str
    source: Mapping[str, Any]
    entries: tuple[ErrorEntry, ...]
    #: Whether the body was JSON at all (a robot always answers JSON; a web page means the
    #: URL points at some other server).
    is_json: bool = True


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (Mapping, list)) else str(value)


def _snippet(text: str, limit: int = 200) -> str:
    """A short, single-line excerpt of a non-JSON body (tags stripped) for messages."""
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _entry(item: Any) -> ErrorEntry | None:
    if not isinstance(item, Mapping):
        return None
    source = item.get("source")
    status = item.get("status")
    error_id = item.get("id") or item.get("errorType") or item.get("code")
    return ErrorEntry(
        id=_text(error_id) or None,
        status=_text(status) or None,
        title=_text(item.get("title")),
        detail=_text(item.get("detail") or item.get("message")),
        source=dict(source) if isinstance(source, Mapping) else {},
    )


def parse_error_body(body: bytes | str | None, reason: str = "") -> ParsedError:
    """Read a failure response body, whatever its shape; never raises.

    ``reason`` is the HTTP reason phrase, used as the title when the body has none.
    """
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    else:
        text = body or ""
    fallback_title = reason or "Robot error"
    try:
        payload: Any = json.loads(text) if text.strip() else None
    except ValueError:
        payload = None
        detail = ""
        if text.strip():
            detail = f"the server answered with a non-JSON body: {_snippet(text)!r}"
        return ParsedError(None, fallback_title, detail, {}, (), is_json=False)

    if isinstance(payload, Mapping):
        raw_errors = payload.get("errors")
        if isinstance(raw_errors, Sequence) and not isinstance(raw_errors, str):
            entries = tuple(e for e in (_entry(item) for item in raw_errors) if e is not None)
            if entries:
                first = entries[0]
                details: list[str] = []
                for e in entries:  # 422s fan out into duplicates, one per union member
                    text_ = e.detail + (f" (at {e.where})" if e.where else "")
                    if text_ and text_ not in details:
                        details.append(text_)
                return ParsedError(
                    error_id=first.id,
                    title=first.title or fallback_title,
                    detail="; ".join(details),
                    source=first.source,
                    entries=entries,
                )
        if "message" in payload:
            return ParsedError(None, fallback_title, _text(payload.get("message")), {}, ())
        if "detail" in payload:  # FastAPI's default envelope
            detail_value = payload.get("detail")
            if isinstance(detail_value, list):
                parts = [
                    _text(d.get("msg")) if isinstance(d, Mapping) else _text(d)
                    for d in detail_value
                ]
                return ParsedError(None, fallback_title, "; ".join(p for p in parts if p), {}, ())
            return ParsedError(None, fallback_title, _text(detail_value), {}, ())
    if payload is None:
        return ParsedError(None, fallback_title, "", {}, ())
    return ParsedError(None, fallback_title, _snippet(_text(payload)), {}, ())


class RobotError(Exception):
    """A request to the robot failed, or the robot reported a failure.

    ``status`` is the HTTP status (``None`` when the failure is not an HTTP answer: robot not
    reachable, analysis or run errors), ``error_id`` the robot's error id
    (``UncategorizedError``, ``InvalidRequest`` ...), ``title`` and ``detail`` its words,
    ``request`` the request as ``"METHOD URL"``. ``hint`` says what to do; it is part of
    ``str(error)``.
    """

    default_hint = ""

    def __init__(
        self,
        status: int | None,
        error_id: str | None,
        title: str,
        detail: str,
        request: str | None = None,
        *,
        source: Mapping[str, Any] | None = None,
        entries: Sequence[ErrorEntry] = (),
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.error_id = error_id
        self.title = title
        self.detail = detail
        self.request = request
        self.source: Mapping[str, Any] = dict(source or {})
        self.entries: tuple[ErrorEntry, ...] = tuple(entries)
        self._hint = hint
        super().__init__(title, detail)

    @property
    def hint(self) -> str:
        """What the user can do about it."""
        return self._hint if self._hint is not None else self._default_hint()

    @hint.setter
    def hint(self, value: str) -> None:
        self._hint = value

    def _default_hint(self) -> str:
        """The advice when none was given explicitly; subclasses compute it from their data."""
        return self.default_hint

    def _headline(self) -> str:
        if self.title and self.detail:
            return f"{self.title}: {self.detail}"
        return self.title or self.detail or "Robot error"

    def __str__(self) -> str:
        text = self._headline()
        context = []
        if self.status is not None:
            context.append(f"HTTP {self.status}")
        if self.request:
            context.append(f"on {self.request}")
        if context:
            text += f" [{' '.join(context)}]"
        if self.hint:
            text += f"\n{self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle as a plain RobotError with the same message parts (subclasses carry live
        # objects such as the Protocol, which do not belong in a pickle).
        return (
            RobotError,
            (self.status, self.error_id, self.title, self.detail, self.request),
            {"source": self.source, "entries": self.entries, "_hint": self.hint},
        )


class RobotUnreachableError(RobotError, ConnectionError):
    """No answer from the robot: connection refused, unknown host, network down."""

    def __init__(self, url: str, reason: str, request: str | None = None) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            None,
            None,
            f"Cannot reach the robot at {url}",
            reason,
            request,
            hint=(
                "Is the robot (or simulator) running at that address? For a local simulated "
                "robot run `ot2-sim` in a terminal, or `%ot2_connect --simulate` in the "
                "notebook. For a real OT-2 check its IP address in the Opentrons App (robot → "
                "Networking), that it is switched on, and that this computer is on the same "
                "network (port 31950)."
            ),
        )


class RobotTimeoutError(RobotUnreachableError, TimeoutError):
    """The robot accepted the connection but did not answer in time."""

    def __init__(self, url: str, timeout: float | None, request: str | None = None) -> None:
        super().__init__(url, f"no answer within {timeout} s", request)
        self.title = f"The robot at {url} did not answer in time"
        self.hint = (
            "The robot may be busy: robot software 4.x blocks while it cancels or deletes a "
            "running session. Try again in a moment, or give the client more time with "
            "RobotClient(url, timeout=60). If it never answers, restart the robot (or ot2-sim)."
        )


class UnexpectedResponseError(RobotError):
    """The server answered, but not like an OT-2 robot-server (wrong URL or port?)."""

    default_hint = (
        "Check that the URL points to an OT-2 (robot software 4.x, or 5 and later): its HTTP "
        "API is on port 31950 (http://ROBOT_IP:31950)."
    )

    @classmethod
    def for_body(cls, status: int, request: str, text: str) -> UnexpectedResponseError:
        """The error for a successful answer whose body is not what the robot sends."""
        snippet = " ".join(text.split())[:200]
        return cls(
            status,
            None,
            "Unexpected answer from the server",
            f"this is not what an OT-2 robot-server sends: {snippet!r}",
            request,
        )


class FeatureDisabledError(RobotError):
    """403: HTTP protocol sessions are switched off in the robot's advanced settings."""

    default_hint = _ENABLE_SESSIONS_HINT


class UploadLimitError(RobotError):
    """403: the robot already holds as many protocols as it keeps (one on a real OT-2).

    ``occupants`` lists the ids of the protocols on the robot, when they could be fetched.
    """

    def __init__(self, *args: Any, occupants: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.occupants: tuple[str, ...] = tuple(occupants)

    @property
    def limit(self) -> int | None:
        match = re.search(r"limit of (\d+)", self.detail)
        return int(match.group(1)) if match else None

    def _default_hint(self) -> str:
        limit = self.limit
        keeps = (
            f"it keeps at most {limit} protocol{'s' if limit != 1 else ''}"
            if limit
            else ("it keeps a limited number of protocols")
        )
        if self.occupants:
            names = ", ".join(repr(p) for p in self.occupants)
            first = self.occupants[0]
            return (
                f"The robot already holds {names}; {keeps}. Delete what you no longer need "
                f"with robot.delete_protocol({first!r}) (or %ot2_cleanup for what this notebook "
                "uploaded), then upload again."
            )
        return (
            f"The robot is full: {keeps}. List them with robot.protocols() and delete one with "
            "robot.delete_protocol(ID), then upload again."
        )


class ProtocolExistsError(RobotError):
    """403 "Resource Exists": a protocol with this id is already on the robot."""

    def __init__(self, *args: Any, protocol_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocol_id = protocol_id
        if protocol_id:
            # Real 4.7 robots garble this detail ("... id 'A protocol with id 'x' ...' ...").
            self.detail = f"a protocol with id {protocol_id!r} is already on the robot"

    def _default_hint(self) -> str:
        pid = self.protocol_id or "ID"
        return (
            f"Replace it with robot.upload(..., replace=True), or delete it first with "
            f"robot.delete_protocol({pid!r}); to change a single file use "
            f"robot.replace_file({pid!r}, FILE)."
        )


class CommandNotAllowedError(RobotError):
    """403: the session's current state does not allow this command
    (``Can't execute 'protocol.pause' during state 'loaded'``)."""

    _PATTERN = re.compile(r"Can't execute '([^']+)' during state '([^']+)'")

    @property
    def command(self) -> str | None:
        match = self._PATTERN.search(self.detail)
        return match.group(1) if match else None

    @property
    def state(self) -> str | None:
        match = self._PATTERN.search(self.detail)
        return match.group(2) if match else None

    def _default_hint(self) -> str:
        state = self.state
        if state is None:
            return "Refresh the session (session.refresh()) and check session.allowed_commands."
        allowed = sorted(short_name(c) for c in ALLOWED_COMMANDS.get(state, frozenset()))
        if allowed:
            can = f"In state {state!r} the session accepts: {', '.join(allowed)}."
        else:
            can = f"In state {state!r} the session accepts no command"
            can += (
                " (it is loading: wait with session.wait_for('loaded'))."
                if state == "stopped"
                else "; create a new session with robot.create_session(PROTOCOL_ID)."
            )
        return can


class SessionNotActiveError(RobotError):
    """403: only the newest session accepts commands; this one is no longer active."""

    default_hint = (
        "The robot runs commands only in its newest session. Use that one "
        "(robot.sessions()[-1]), or delete the others and create a new session with "
        "robot.create_session(PROTOCOL_ID)."
    )


class NotFoundError(RobotError):
    """404: no such protocol or session on the robot."""

    _PATTERN = re.compile(r"Resource type '([^']+)' with id '(.*)' was not found")

    @property
    def resource_type(self) -> str | None:
        match = self._PATTERN.search(self.detail)
        return match.group(1) if match else None

    @property
    def resource_id(self) -> str | None:
        match = self._PATTERN.search(self.detail)
        return match.group(2) if match else None

    def _default_hint(self) -> str:
        kind = self.resource_type
        if kind == "protocol":
            return "List the protocols on the robot with robot.protocols(), or upload it again."
        if kind == "session":
            return (
                "The session was deleted or the robot restarted: list sessions with "
                "robot.sessions(), or create one with robot.create_session(PROTOCOL_ID)."
            )
        return "Check the id (robot.protocols(), robot.sessions()) and the robot's URL."


class AnalysisError(RobotError):
    """The protocol was uploaded, but the robot's analysis found an error in it.

    The protocol stays stored on the robot (errors are data in robot software 4.x):
    ``protocol`` is the live :class:`~ot2_notebook.client.http.Protocol` (when raised by the
    client) so callers can inspect or delete it. ``error`` is the first (in 4.x the only)
    analysis error, with ``error_type``, ``message``, ``file`` and ``line`` as shortcuts.
    """

    def __init__(self, protocol: ProtocolView, request: str | None = None) -> None:
        self.protocol = protocol
        self.errors: tuple[ProtocolErrorInfo, ...] = tuple(protocol.errors)
        self.error: ProtocolErrorInfo | None = self.errors[0] if self.errors else None
        super().__init__(
            None,
            self.error.type if self.error else None,
            f"Protocol {protocol.id!r} failed analysis",
            str(self.error) if self.error else "the robot reported an analysis error",
            request,
            hint=(
                f"The protocol is stored on the robot with this error "
                f"(robot.protocol({protocol.id!r}).errors). Fix it and upload again with "
                f"replace=True, or remove it with robot.delete_protocol({protocol.id!r})."
            ),
        )

    @property
    def protocol_id(self) -> str:
        return self.protocol.id

    @property
    def error_type(self) -> str | None:
        return self.error.type if self.error else None

    @property
    def message(self) -> str | None:
        return self.error.description if self.error else None

    @property
    def file(self) -> str | None:
        return self.error.file if self.error else None

    @property
    def line(self) -> int | None:
        return self.error.line if self.error else None


class RunError(RobotError):
    """A session ended in state ``error`` (its load or its run failed).

    ``error`` is the run's error when the robot reports one (the simulator does; a real 4.x
    robot does not, and then ``analysis_errors`` may still explain a failed load).
    """

    def __init__(
        self,
        session: SessionView,
        error: ProtocolErrorInfo | None = None,
        analysis_errors: Sequence[ProtocolErrorInfo] = (),
        equipment: PreflightReport | None = None,
    ) -> None:
        self.session = session
        self.error = error
        self.analysis_errors: tuple[ProtocolErrorInfo, ...] = tuple(analysis_errors)
        #: When the robot gives no reason: the check of its attached hardware, if it failed
        #: (the likely reason then: a run fails where it loads an instrument it lacks).
        self.equipment = equipment if equipment is not None and not equipment.ok else None
        pid = session.protocol_id
        if error is not None:
            detail = str(error)
            hint = f"Fix protocol {pid!r}, upload it again (replace=True) and start a new session."
        elif self.analysis_errors:
            detail = f"its protocol failed analysis: {self.analysis_errors[0]}"
            hint = f"Fix protocol {pid!r}, upload it again (replace=True) and start a new session."
        elif self.equipment is not None:
            problems = "; ".join(p.describe() for p in self.equipment.problems)
            detail = (
                "the robot does not say why (robot software 4.x hides run errors), but it "
                f"lacks what the protocol needs: {problems}"
            )
            hint = (
                "Attach the pipettes and modules the protocol asks for, or change the "
                "protocol to use what is attached (robot.attached()); then start a new run."
            )
        else:
            detail = "the robot does not say why (robot software 4.x hides run errors)"
            hint = (
                f"Simulate protocol {pid!r} with ot2-sim (%ot2_connect --simulate) to see the "
                "error and its line, or download the robot's logs in the Opentrons App "
                "(robot → Advanced → Download Logs)."
            )
        super().__init__(
            None,
            error.type if error else None,
            f"Session {session.id} of protocol {pid!r} ended in state 'error'",
            detail,
            None,
            hint=hint,
        )

    @property
    def line(self) -> int | None:
        return self.error.line if self.error else None

    @property
    def file(self) -> str | None:
        return self.error.file if self.error else None


class EquipmentMismatchError(RobotError):
    """The robot lacks a pipette or module the protocol needs (the pre-flight check before a
    run, :mod:`ot2_notebook.client.preflight`): nothing was started.

    ``preflight`` has every check; ``problems`` the failed ones, each with ``where`` (the
    mount, or ``slot N``), ``wanted`` and ``attached``; ``mount``, ``wanted`` and ``attached``
    are the first problem's.
    """

    def __init__(self, report: PreflightReport, request: str | None = None) -> None:
        self.preflight = report
        self.problems = report.problems
        first = self.problems[0] if self.problems else None
        self.mount = first.mount if first else None
        self.wanted = first.wanted if first else None
        self.attached = first.attached if first else None
        pid = report.protocol_id
        super().__init__(
            None,
            "EquipmentMismatch",
            f"The robot does not have what protocol {pid!r} needs; the run was not started",
            "; ".join(p.describe() for p in self.problems) or "no problem found",
            request,
            hint=(
                "Attach the pipettes and modules the protocol asks for (on a robot: the "
                "Opentrons App, robot → Pipettes & Modules), or change the protocol to use "
                "what is attached: robot.attached() lists it. A simulated robot takes its "
                "hardware from ot2-sim --left/--right NAME, --module MODEL or --hardware FILE "
                "(notebook 5). To start anyway: session.start(check_equipment=False)."
            ),
        )


class StopRefusedError(RobotError):
    """A cancel or delete was not sent, because it would hang the robot: robot software
    4.x deadlocks on a cancel or delete of a paused session, and the run could not be
    resumed first (:mod:`ot2_notebook.client.safety`)."""

    def __init__(self, session_id: str, action: str, state: str, why: str) -> None:
        self.session_id = session_id
        self.action = action
        self.state = state
        super().__init__(
            None,
            "StopRefused",
            f"Did not {action} session {session_id}: it is {state!r}",
            why,
            None,
            hint=(
                "A cancel or delete of a paused session hangs robot software 4.x for good "
                "(only a restart ends it), so this client resumes a paused run before "
                "stopping it. Resume the run (session.resume(); close the robot's door if it "
                "is open), then cancel again; or stop it from the Opentrons App."
            ),
        )


class RunCancelledError(RobotError):
    """The run was cancelled (state ``stopped``) while waiting for another state."""

    def __init__(self, session: SessionView, waited_for: Sequence[str]) -> None:
        self.session = session
        wanted = " or ".join(repr(s) for s in waited_for)
        super().__init__(
            None,
            None,
            f"Session {session.id} was cancelled",
            f"it is 'stopped' and will not reach {wanted}",
            None,
            hint=(
                "A cancelled session accepts no more commands: create a new one with "
                f"robot.create_session({session.protocol_id!r})."
            ),
        )


class SessionTimeoutError(RobotError, TimeoutError):
    """``Session.wait_for`` gave up: the session did not reach the state in time."""

    def __init__(
        self, session: SessionView, waited_for: Sequence[str], timeout: float, stuck_for: float
    ) -> None:
        self.session = session
        self.state = session.state
        wanted = " or ".join(repr(s) for s in waited_for)
        super().__init__(
            None,
            None,
            f"Session {session.id} did not reach {wanted} within {timeout:g} s",
            f"it has been in state {session.state!r} for {stuck_for:.1f} s",
            None,
            hint=_timeout_hint(session.state),
        )


def _timeout_hint(state: str) -> str:
    if state == "stopped":
        return (
            "'stopped' means still loading (or cancelled). A large protocol may need a longer "
            "timeout: session.wait_for(..., timeout=300)."
        )
    if state == "paused":
        return "The run is paused: resume it with session.resume(), or cancel it."
    if state == "running":
        return "The run is still going: wait longer (timeout=...), or pause/cancel it."
    if state in ("loaded", "finished"):
        return "Nothing is running: start the run with session.start()."
    return "Check the session with session.refresh() and robot.sessions()."


class NoCurrentRobotError(RobotError, LookupError):
    """``current_robot()`` was called before a robot was chosen."""

    def __init__(self) -> None:
        super().__init__(
            None,
            None,
            "No robot chosen for this kernel",
            "current_robot() has nothing to return yet",
            None,
            hint=(
                "Run %ot2_connect http://ROBOT_IP:31950 (or %ot2_connect --simulate for a "
                "simulated robot), or call "
                'ot2_notebook.set_current_robot(ot2_notebook.RobotClient("http://ROBOT_IP:31950")).'
            ),
        )


class UnknownRobotError(RobotError, LookupError):
    """``robot(name)`` was called with a name no robot was connected as."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        names = ", ".join(repr(k) for k in self.known) or "none yet"
        super().__init__(
            None,
            None,
            f"No robot named {name!r} in this kernel",
            f"connected robots: {names}",
            None,
            hint=(
                f"Connect it with %ot2_connect http://ROBOT_IP:31950 --name {name} (or "
                f'ot2_notebook.add_robot("{name}", "http://ROBOT_IP:31950")).'
            ),
        )


def _generic_hint(status: int, parsed: ParsedError) -> str:
    if parsed.error_id == "OutdatedAPIVersion" or (
        parsed.source.get("header", "").lower() == "opentrons-version"
    ):
        return (
            "The robot did not accept this client's API version (Opentrons-Version 2 for "
            "robot software 4.x, 4 for 5 and later); update the robot, or this package."
        )
    if status == 413:
        return "The files are larger than the robot accepts: upload smaller files."
    if status == 422:
        return "The robot rejected the request's contents; check the arguments."
    if status >= 500:
        return (
            "The robot software failed while handling the request. Try again; if it keeps "
            "failing, restart the robot (or ot2-sim) and look at its logs."
        )
    return ""


def error_from_response(
    status: int,
    body: bytes | str | None,
    *,
    reason: str = "",
    request: str | None = None,
) -> RobotError:
    """The :class:`RobotError` (subclass) for a failure answer of the robot."""
    parsed = parse_error_body(body, reason)
    args = (status, parsed.error_id, parsed.title, parsed.detail, request)
    kwargs: dict[str, Any] = {"source": parsed.source, "entries": parsed.entries}
    detail = parsed.detail.lower()
    title = parsed.title.lower()
    if status == 403:
        if "feature is disabled" in detail:
            return FeatureDisabledError(*args, **kwargs)
        if "upload limit" in detail:
            return UploadLimitError(*args, **kwargs)
        if title == "resource exists" or "already exists" in detail:
            return ProtocolExistsError(*args, **kwargs)
        if detail.startswith("can't execute"):
            return CommandNotAllowedError(*args, **kwargs)
        if "is not active" in detail:
            return SessionNotActiveError(*args, **kwargs)
    if status == 404:
        if not parsed.is_json:  # a robot's 404 is always JSON: this is another server
            return UnexpectedResponseError(*args, **kwargs)
        return NotFoundError(*args, **kwargs)
    return RobotError(*args, hint=_generic_hint(status, parsed), **kwargs)
