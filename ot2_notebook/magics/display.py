"""What a magic's cell shows: the widgets' panels, and short notes.

The panels (equipment and deck, live run and deck, robot) come from :mod:`ot2_notebook.widgets`,
imported here on first use so that loading the extension stays cheap. The notes are small
rich objects with a deterministic ``text/plain`` form (for terminals and nbval) and an HTML
form for JupyterLab.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from ot2_notebook.client import (
        Health,
        PreflightReport,
        Protocol,
        ProtocolErrorInfo,
        RobotClient,
        Session,
    )
    from ot2_notebook.magics.bundle import Change, NotebookBundle
    from ot2_notebook.magics.errors import CellProblem
    from ot2_notebook.magics.robotops import CleanupReport
    from ot2_notebook.widgets import (
        EquipmentPanel,
        ErrorLocation,
        FleetPanel,
        RobotPanel,
        RunPanel,
    )

__all__ = [
    "Note",
    "bundle_lines",
    "change_note",
    "cleanup_note",
    "contents_note",
    "error_locations",
    "health_note",
    "show",
    "show_equipment",
    "show_fleet",
    "show_robot",
    "show_run",
]


class Note:
    """A short message shown as a cell output: ``text`` for plain text, ``html`` (escaped
    text by default) for notebooks."""

    def __init__(self, text: str, html_text: str | None = None, css_class: str = "") -> None:
        self.text = text
        self.html = html_text
        self.css_class = css_class

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        body = self.html if self.html is not None else html.escape(self.text)
        classes = " ".join(c for c in ("ot2-note", self.css_class) if c)
        return f'<div class="{classes}" style="white-space: pre-wrap">{body}</div>'


def show(obj: Any) -> None:
    """Display ``obj`` as an output of the running cell."""
    from IPython.display import display

    display(obj)


def error_locations(problems: Sequence[CellProblem]) -> list[ErrorLocation]:
    """The problems as the widgets place errors (cell label, line, quoted line)."""
    from ot2_notebook.widgets import ErrorLocation

    return [
        ErrorLocation(
            label=p.location.label,
            line=p.location.line,
            source_line=p.location.text,
            message=p.message,
            error_type=p.kind,
        )
        for p in problems
    ]


def show_equipment(
    protocol: Protocol,
    problems: Sequence[CellProblem] = (),
    definitions: Sequence[Mapping[str, Any]] = (),
    *,
    preflight: PreflightReport | None = None,
) -> EquipmentPanel:
    """The equipment panel of an uploaded protocol, with its errors placed in cells, the
    deck drawn (custom labware from ``definitions``, the bundle's labware files) and the
    check of the robot's attached hardware (``preflight``) when given."""
    from ot2_notebook.widgets import show_equipment as _show

    return _show(
        protocol,
        error_locations(problems) if problems else None,
        definitions=definitions,
        preflight=preflight,
    )


def show_run(
    session: Session,
    protocol: Protocol | None,
    locate: Callable[[ProtocolErrorInfo], CellProblem] | None,
    definitions: Sequence[Mapping[str, Any]] = (),
) -> tuple[RunPanel, DisplayHandle]:
    """The live run panel of a session, with the deck following the run (custom labware
    from ``definitions``); run errors are placed in cells with ``locate``.

    Returns the panel and its display handle: ``handle.update(panel)`` re-sends the panel's
    plain-text form once the run has ended, so a saved notebook (papermill, nbclient) keeps
    the final state rather than the first one.
    """
    from IPython.display import display

    from ot2_notebook.widgets import show_run as _show

    locate_error = None
    if locate is not None:

        def locate_error(info: ProtocolErrorInfo) -> ErrorLocation | None:
            return error_locations([locate(info)])[0]

    panel = _show(
        session,
        protocol=protocol,
        locate_error=locate_error,
        display=False,
        deck=True,
        definitions=definitions,
    )
    handle = display(panel, display_id=True)
    return panel, handle


def show_robot(robot: RobotClient) -> RobotPanel:
    """The robot panel: health, protocols and sessions."""
    from ot2_notebook.widgets import show_robot as _show

    return _show(robot)


def show_fleet(robots: Mapping[str, RobotClient], default: str | None) -> FleetPanel:
    """The fleet panel: every connected robot, live."""
    from ot2_notebook.widgets import show_fleet as _show

    return _show(robots, default=default)


def _session_line(session: Session) -> str:
    from ot2_notebook.client.reconcile import load_total, run_steps

    data = session.data
    text = f"    session {session.id}: {session.state}"
    total = load_total(data.events)
    started = [s for s in run_steps(data.id, data.events) if s.phase == "start"]
    if session.state in ("running", "paused") and total:
        text += f", step {len(started)} of {total}"
    if session.state in ("running", "paused", "loaded"):
        text += f". Follow it with %ot2_run {session.protocol_id}."
    return text


def contents_note(
    protocols: Sequence[Protocol], sessions: Sequence[Session], ours: set[str], remembered: bool
) -> Note:
    """What is on a robot: each protocol (whose) and its sessions with their states."""
    lines = ["On the robot:"]
    others = "not uploaded by this notebook" if remembered else "not uploaded by this kernel"
    for protocol in protocols:
        whose = "uploaded by this notebook" if protocol.id in ours else others
        status = f", {len(protocol.errors)} analysis error(s)" if protocol.errors else ""
        lines.append(f"  protocol {protocol.id!r} ({whose}{status})")
        lines += [_session_line(s) for s in sessions if s.protocol_id == protocol.id]
    known = {p.id for p in protocols}
    for session in sessions:
        if session.protocol_id not in known:
            lines.append(f"  protocol {session.protocol_id!r} (deleted), with:")
            lines.append(_session_line(session))
    if not remembered and any(p.id not in ours for p in protocols):
        lines.append(
            "  (Uploads from before a kernel restart count as this notebook's only when the "
            "notebook is known: in Jupyter it is; elsewhere set %config OT2Magics.workspace = "
            "'NAME'.)"
        )
    return Note("\n".join(lines), css_class="ot2-contents")


def health_note(
    robot: RobotClient, health: Health, sessions_enabled: bool | None, simulator: Any = None
) -> Note:
    """What ``%ot2_connect`` shows: which robot, which software, whether sessions work."""
    name = health.name or "unnamed robot"
    lines = [f"Connected to {name} at {robot.base_url}"]
    if simulator is not None:
        lines[0] += " (simulated robot started by this notebook)"
    lines.append(
        f"  robot software {health.api_version or '?'}, firmware {health.fw_version or '?'}, "
        f"system {health.system_version or '?'}"
    )
    software = robot.software
    if software.uses_runs:
        live = (
            f"live updates over MQTT ({software.mqtt[0]}:{software.mqtt[1]}), else polling"
            if software.mqtt is not None
            else "no MQTT broker: runs are followed by polling"
        )
        lines.append(f"  protocols and runs API (robot software 5 and later); {live}")
    if health.minimum_protocol_api_version and health.maximum_protocol_api_version:
        low = ".".join(map(str, health.minimum_protocol_api_version))
        high = ".".join(map(str, health.maximum_protocol_api_version))
        lines.append(f"  protocol API levels {low} to {high}")
    if sessions_enabled is True:
        lines.append("  HTTP protocol sessions: enabled")
    elif sessions_enabled is False:
        lines.append(
            "  HTTP protocol sessions: DISABLED. Runs will be refused until you enable them: "
            "Opentrons App -> robot -> Advanced Settings -> 'Enable Experimental HTTP Protocol "
            "Sessions' (or robot.set_setting('enableHttpProtocolSessions', True))."
        )
    return Note("\n".join(lines), css_class="ot2-connect")


def change_note(change: Change, file_name: str, upload_hint: str | None, *, part: bool) -> Note:
    """One line saying what a cell changed in the bundle, and how to go on."""
    if part:
        text = f"{file_name}: part {change.index + 1} of {change.count}"
    elif file_name.endswith(".py") and change.target == file_name[:-3]:
        text = f"{file_name}: the whole protocol"
    else:
        text = f"Support file {file_name}, sent with every protocol of this notebook"
    notes = []
    if change.replaced is not None:
        notes.append(f"replaces {change.replaced.label}")
    if change.dropped:
        notes.append("drops the parts from " + ", ".join(c.label for c in change.dropped))
    if change.moved_from:
        notes.append(f"no longer part of {change.moved_from}")
    if notes:
        text += " (" + "; ".join(notes) + ")"
    text += "."
    if upload_hint:
        text += " " + upload_hint
    return Note(text, css_class="ot2-bundle-note")


def bundle_lines(bundle: NotebookBundle) -> list[str]:
    """The notebook's bundle, for ``%ot2_status``: each protocol's parts and the support
    files, with the cells they came from."""
    lines = []
    for name in bundle.names():
        parts = bundle.parts(name)
        cells = ", ".join(p.cell.label for p in parts)
        paths = bundle.support_paths(name)
        line = f"  {name}.py from {cells}"
        if paths:
            line += " + files " + ", ".join(str(p) for p in paths)
        lines.append(line)
    for item in bundle.support.values():
        lines.append(f"  support file {item.filename} from {item.cell.label}")
    if not lines:
        return ["This notebook has defined no protocol yet (%%ot2_protocol NAME)."]
    return ["This notebook's bundle:", *lines]


def cleanup_note(report: CleanupReport, *, everything: bool) -> Note:
    """What ``%ot2_cleanup`` deleted."""
    deleted = []
    if report.protocols:
        count = len(report.protocols)
        names = ", ".join(report.protocols)
        deleted.append(f"{count} protocol{'s' if count > 1 else ''} ({names})")
    if report.sessions:
        count = len(report.sessions)
        deleted.append(f"{count} session{'s' if count > 1 else ''}")
    whose = "" if everything else " this notebook created"
    text = (
        f"Deleted {' and '.join(deleted)} from the robot."
        if deleted
        else f"Nothing{whose} to delete on the robot."
    )
    return Note(text, css_class="ot2-cleanup-note")
