"""What the magics do on the robot: replace a protocol with a new upload, start a run, wait
for it, clean up. Everything goes through :class:`~ot2_notebook.RobotClient`; errors come back
placed in notebook cells (:class:`CellAnalysisError`, :class:`CellRunError`) or explained
with what is on the robot now (:class:`RobotRequestError`).

Replacing is delete-then-upload (robot software 4.x stores a protocol's files as one unit; a
``PATCH`` per file would re-analyse after each one and could leave a mix). The local checks
run before, so a typo never costs the protocol already on the robot; if the upload itself
fails after the delete, the error says plainly that the protocol is no longer there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ot2_notebook import session_states as states
from ot2_notebook.client import (
    AnalysisError,
    EquipmentMismatchError,
    NotFoundError,
    PreflightReport,
    Protocol,
    ProtocolErrorInfo,
    RobotClient,
    RobotError,
    RunCancelledError,
    RunError,
    Session,
    SessionTimeoutError,
    UploadLimitError,
)
from ot2_notebook.magics.advice import custom_labware_names, improve
from ot2_notebook.magics.bundle import BuiltBundle
from ot2_notebook.magics.cellmap import Location
from ot2_notebook.magics.errors import (
    CellProblem,
    OT2MagicError,
    ProtocolCellError,
    RobotRequestError,
)
from ot2_notebook.magics.ledger import Ledger, created_stamp
from ot2_notebook.magics.slots import make_room

__all__ = [
    "CellAnalysisError",
    "CellEquipmentError",
    "CellRunError",
    "cleanup",
    "equipment_report",
    "error_problems",
    "live_session",
    "replace_protocol",
    "require_equipment",
    "start_run",
    "wait_for_run",
]

_BUSY = (states.RUNNING, states.PAUSED)


def live_session(sessions: Sequence[Session], protocol_id: str | None = None) -> Session | None:
    """A session whose run is in progress (running or paused), of ``protocol_id`` if given."""
    return next(
        (
            s
            for s in sessions
            if s.state in _BUSY and (protocol_id is None or s.protocol_id == protocol_id)
        ),
        None,
    )


class CellAnalysisError(ProtocolCellError, AnalysisError):
    """The robot's analysis of a protocol built from cells found an error; it is placed in
    the notebook cell and line it came from. Also an :class:`~ot2_notebook.client.AnalysisError`
    (``protocol`` is the stored :class:`~ot2_notebook.Protocol`)."""

    protocol: Protocol

    def __init__(self, protocol: Protocol, problems: Sequence[CellProblem], request: str | None):
        AnalysisError.__init__(self, protocol, request)
        name = protocol.id
        self._set_report(
            f"Protocol {name!r} failed analysis on the robot.",
            problems,
            name,
            f"Protocol {name!r} is on the robot with this error and cannot run until it is fixed.",
            "Fix the cell and run it again: the new upload replaces it.",
        )


class CellRunError(ProtocolCellError, RunError):
    """A session of a protocol built from cells ended in ``error``; the run's error is placed
    in the notebook cell and line it came from. Also a :class:`~ot2_notebook.client.RunError`."""

    def __init__(
        self, session: Session, problems: Sequence[CellProblem], run_error: RunError, phase: str
    ) -> None:
        RunError.__init__(self, session, run_error.error, run_error.analysis_errors)
        name = session.protocol_id
        if problems:
            headline = f"The {phase} of protocol {name!r} failed (session {session.id})."
        else:
            headline = (
                f"The {phase} of protocol {name!r} failed (session {session.id}): "
                f"{run_error.detail}."
            )
        self._set_report(
            headline,
            problems,
            name,
            f"The session is in state 'error'; protocol {name!r} is still on the robot.",
            "Fix the cell, run it again, and start a new run." if problems else run_error.hint,
        )


class CellEquipmentError(OT2MagicError, EquipmentMismatchError):
    """The robot lacks a pipette or module the protocol needs: the run was not started.
    Also an :class:`~ot2_notebook.client.EquipmentMismatchError` (``mount``, ``wanted``,
    ``attached``, ``preflight``)."""

    def __init__(self, error: EquipmentMismatchError) -> None:
        EquipmentMismatchError.__init__(self, error.preflight, error.request)
        name = error.preflight.protocol_id
        lines = [f"Protocol {name!r} was not run: the robot does not have what it needs."]
        lines += [f"  {problem.describe()}" for problem in error.problems]
        lines.append(
            f"Nothing was started; protocol {name!r} is on the robot. {error.hint}".replace(
                " To start anyway: session.start(check_equipment=False).", ""
            )
        )
        OT2MagicError.__init__(self, "\n".join(lines))


def equipment_report(robot: RobotClient, protocol: Protocol) -> PreflightReport | None:
    """The check of the robot's attached hardware for ``protocol``, for its equipment panel
    (``None`` when the protocol failed analysis or the robot cannot say)."""
    if protocol.errors:
        return None
    try:
        return robot.preflight(protocol)
    except RobotError:
        return None


def require_equipment(robot: RobotClient, protocol: Protocol) -> None:
    """Check before a run that the robot has what ``protocol`` needs
    (:class:`CellEquipmentError` if not)."""
    try:
        robot.require_equipment(protocol)
    except EquipmentMismatchError as exc:
        raise CellEquipmentError(exc) from None
    except RobotError as exc:
        doing = f"Checking the robot's pipettes and modules for {protocol.id!r}"
        raise RobotRequestError(doing, exc, "No run was started.") from exc


def _kind(info: ProtocolErrorInfo) -> str:
    """``ExceptionInProtocolError`` says little: name the Python exception when known."""
    if info.exception_type and info.type in ("ExceptionInProtocolError", "Error"):
        return info.exception_type
    return info.type


def tidy_message(text: str) -> str:
    """A robot's message without the hard line breaks and indentation of its source (opentrons
    writes some messages as indented triple-quoted strings); blank lines stay paragraphs."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def error_problems(
    built: BuiltBundle | None, errors: Sequence[ProtocolErrorInfo], protocol_file: str
) -> list[CellProblem]:
    """The robot's errors placed in the notebook (when ``built`` says where lines came from)."""
    problems = []
    custom = custom_labware_names(built.support) if built is not None else []
    for info in errors:
        if built is not None:
            location = built.locate(info.file, info.line)
        else:
            location = Location(file=info.file or protocol_file, file_line=info.line)
        message = improve(tidy_message(info.description), custom)
        problems.append(CellProblem(location, _kind(info), message))
    return problems


def _sessions_of(robot: RobotClient, protocol_id: str, doing: str) -> list[Session]:
    try:
        return [s for s in robot.sessions() if s.protocol_id == protocol_id]
    except RobotError as exc:
        raise RobotRequestError(doing, exc, "Nothing was changed on the robot.") from exc


def _refuse_if_running(sessions: Sequence[Session], action: str, outcome: str) -> None:
    """Refuse ``action`` while a run is in progress: the robot does one run at a time, and
    replacing a protocol under its own run would pull the files from under it."""
    busy = [s for s in sessions if s.state in _BUSY]
    if busy:
        session = busy[0]
        raise OT2MagicError(
            f"Protocol {session.protocol_id!r} is {session.state} on the robot (session "
            f"{session.id}), so {action} now would disturb a run in progress; {outcome}\n"
            "Let the run finish, or cancel it (Cancel in its run panel, or "
            f"ot2_notebook.current_robot().session({session.id!r}).cancel()), then run this "
            "cell again."
        )


def _delete_sessions(robot: RobotClient, sessions: Sequence[Session], doing: str) -> None:
    for session in sessions:
        try:
            robot.delete_session(session.id)
        except NotFoundError:
            continue
        except RobotError as exc:
            raise RobotRequestError(
                doing, exc, "The robot still holds the previous protocol; nothing was uploaded."
            ) from exc


def replace_protocol(
    robot: RobotClient,
    built: BuiltBundle,
    ledger: Ledger,
    *,
    room: bool = True,
    notify: Callable[[str], None] | None = None,
) -> Protocol:
    """Upload ``built``, replacing a protocol of the same name (and its finished sessions).

    When the robot is full, protocols this notebook uploaded that nothing is using make room
    (``room``; :func:`~ot2_notebook.magics.slots.make_room`), and ``notify`` hears what was
    removed. Raises :class:`CellAnalysisError` when the robot's analysis finds errors (the
    protocol is then stored with them), :class:`RobotRequestError` when the robot refuses,
    saying what it holds now, and :class:`OT2MagicError` when the protocol is running.
    """
    name = built.name
    url = robot.base_url
    doing = f"Uploading protocol {name!r} to {url}"
    stale = _sessions_of(robot, name, doing)
    _refuse_if_running(stale, "replacing it", "nothing was changed.")
    _delete_sessions(robot, stale, doing)
    for session in stale:
        ledger.forget_session(url, session.id)
    existed = True
    try:
        previous = robot.delete_protocol(name)
    except NotFoundError:
        existed = False
    except RobotError as exc:
        raise RobotRequestError(
            doing,
            exc,
            f"The robot still holds the previous version of {name!r}; nothing was uploaded.",
        ) from exc
    else:
        if notify is not None and not ledger.owns_protocol(url, name, previous.data.raw):
            whose = "this notebook" if ledger.persistent else "this kernel"
            notify(
                f"Replaced protocol {name!r} that was on the robot: {whose} had not uploaded "
                "it (a protocol of the same name from elsewhere, or from before a restart)."
            )
    ledger.forget_protocol(url, name)
    if existed:
        state = (
            f"Protocol {name!r} is no longer on the robot: its previous version was deleted "
            "to make room for this upload. Run the cell again once the cause is fixed."
        )
    else:
        state = f"Protocol {name!r} is not on the robot."
    protocol_file, support = built.upload_files()
    try:
        try:
            protocol = robot.upload(protocol_file, support, raise_on_error=False)
        except UploadLimitError as full:
            removed = make_room(robot, ledger, name, full, allowed=room, doing=doing, state=state)
            if notify is not None:
                notify(_room_note(removed, full))
            protocol = robot.upload(protocol_file, support, raise_on_error=False)
    except RobotError as exc:
        if isinstance(exc, OT2MagicError):
            raise
        raise RobotRequestError(doing, exc, state) from exc
    ledger.add_protocol(url, protocol.id, created_stamp(protocol.data.raw), built.fingerprint())
    if protocol.errors:
        problems = error_problems(built, protocol.errors, built.protocol.name)
        raise CellAnalysisError(protocol, problems, f"POST {robot.url_for('/protocols')}")
    return protocol


def _room_note(removed: Sequence[str], full: UploadLimitError) -> str:
    limit = full.limit
    keeps = f"it keeps {limit} protocol{'s' if limit != 1 else ''}" if limit else "it is full"
    names = ", ".join(repr(r) for r in removed)
    return (
        f"Made room on the robot ({keeps}): removed {names}, uploaded by this notebook and "
        "not in use (with %config OT2Magics.make_room = False the upload fails instead)."
    )


def start_run(
    robot: RobotClient, name: str, ledger: Ledger, *, uploaded_now: bool = False
) -> Session:
    """Create a session for protocol ``name`` (deleting this protocol's finished sessions,
    refusing while any run is in progress on the robot)."""
    doing = f"Starting a run of protocol {name!r}"
    try:
        sessions = robot.sessions()
    except RobotError as exc:
        raise RobotRequestError(doing, exc) from exc
    uploaded = (
        f"protocol {name!r} is on the robot but was not started."
        if uploaded_now
        else ("no run was started.")
    )
    _refuse_if_running(sessions, "starting another run", uploaded)
    old = [s for s in sessions if s.protocol_id == name]
    _delete_sessions(robot, old, doing)
    for session in old:
        ledger.forget_session(robot.base_url, session.id)
    try:
        session = robot.create_session(name)
    except RobotError as exc:
        raise RobotRequestError(doing, exc, "No session was created.") from exc
    ledger.add_session(robot.base_url, session.id)
    return session


def _run_error(
    session: Session, exc: RunError, built: BuiltBundle | None, phase: str
) -> ProtocolCellError:
    errors: tuple[ProtocolErrorInfo, ...] = (exc.error,) if exc.error else exc.analysis_errors
    problems = error_problems(built, errors, f"{session.protocol_id}.py")
    return CellRunError(session, problems, exc, phase)


def load_session(session: Session, built: BuiltBundle | None, timeout: float) -> None:
    """Wait until the robot has loaded (simulated) the protocol; a failed load is a
    :class:`CellRunError` placed in the cells."""
    try:
        session.wait_for(states.LOADED, timeout=timeout)
    except RunError as exc:
        raise _run_error(session, exc, built, "load") from exc
    except RobotError as exc:
        raise RobotRequestError(f"Loading protocol {session.protocol_id!r}", exc) from exc


def begin(session: Session) -> None:
    """Send ``protocol.startRun`` (the attached hardware was checked before the session was
    made: :func:`require_equipment`)."""
    try:
        session.start(check_equipment=False)
    except RobotError as exc:
        raise RobotRequestError(f"Starting the run of {session.protocol_id!r}", exc) from exc


def wait_for_run(session: Session, built: BuiltBundle | None, timeout: float | None) -> Session:
    """Block until the run ends; ``finished`` returns, anything else raises."""
    name = session.protocol_id
    try:
        return session.wait_for(states.FINISHED, timeout=timeout if timeout else float("inf"))
    except RunError as exc:
        raise _run_error(session, exc, built, "run") from exc
    except RunCancelledError as exc:
        raise OT2MagicError(
            f"The run of protocol {name!r} was cancelled (session {session.id} is 'stopped'), "
            "so it did not finish.\nStart a new run with %ot2_run " + name + " when ready."
        ) from exc
    except SessionTimeoutError as exc:
        raise OT2MagicError(
            f"The run of protocol {name!r} did not finish within {timeout:g} s: {exc.detail}.\n"
            "It goes on on the robot: watch it with %ot2_status, or give --wait more time with "
            "%config OT2Magics.wait_timeout = SECONDS."
        ) from exc
    except RobotError as exc:
        raise RobotRequestError(f"Waiting for the run of {name!r}", exc) from exc


@dataclass
class CleanupReport:
    """What ``%ot2_cleanup`` deleted."""

    protocols: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)


def cleanup(robot: RobotClient, ledger: Ledger, everything: bool = False) -> CleanupReport:
    """Delete this notebook's sessions and protocols from the robot (``everything``: all of
    them). This notebook's: what the :class:`~ot2_notebook.magics.ledger.Ledger` says it
    made (across kernel restarts when the notebook is known), and the sessions of its
    protocols. Sessions go first: deleting one cancels its run."""
    report = CleanupReport()
    url = robot.base_url
    doing = f"Cleaning up the robot at {url}"
    try:
        on_robot = robot.sessions()
        protocols = robot.protocols()
    except RobotError as exc:
        raise RobotRequestError(doing, exc, "Nothing was deleted.") from exc
    if everything:
        session_ids = [s.id for s in on_robot]
        protocol_ids = [p.id for p in protocols]
    else:
        protocol_ids = [p.id for p in protocols if ledger.owns_protocol(url, p.id, p.data.raw)]
        mine = set(protocol_ids)
        session_ids = [
            s.id for s in on_robot if ledger.owns_session(url, s.id) or s.protocol_id in mine
        ]
    try:
        for session_id in session_ids:
            try:
                robot.delete_session(session_id)
                report.sessions.append(session_id)
            except NotFoundError:
                pass
            ledger.forget_session(url, session_id)
        for protocol_id in protocol_ids:
            try:
                robot.delete_protocol(protocol_id)
                report.protocols.append(protocol_id)
            except NotFoundError:
                pass
            ledger.forget_protocol(url, protocol_id)
    except RobotError as exc:
        done = ", ".join(report.protocols) or "no protocol"
        raise RobotRequestError(
            doing, exc, f"Deleted so far: {done} and {len(report.sessions)} session(s)."
        ) from exc
    left = [(p.id, created_stamp(p.data.raw)) for p in protocols if p.id not in protocol_ids]
    ledger.prune(url, left, [s.id for s in on_robot if s.id not in session_ids])
    return report
