"""``RobotPanel``: who the robot is, and what is stored on it, with delete buttons.

A robot keeps at most one uploaded protocol (ot2-sim: ``--max-protocols``) and only its
newest session accepts commands, so seeing and clearing what is there is a frequent need.
The panel reads the robot when built and on **Refresh** (or :meth:`RobotPanel.refresh`);
it has no thread. Failures are shown in the panel (``ot2-robot-message``), logged, and kept
in :attr:`RobotPanel.last_error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import ipywidgets as widgets

from ot2_notebook.client.errors import RobotError
from ot2_notebook.client.http import Protocol, RobotClient, Session
from ot2_notebook.client.models import Health
from ot2_notebook.widgets.base import Panel, close_tree
from ot2_notebook.widgets.style import esc, html_block

__all__ = ["RobotPanel"]

log = logging.getLogger("ot2_notebook.widgets")


def _api_range(health: Health) -> str:
    low, high = health.minimum_protocol_api_version, health.maximum_protocol_api_version
    if low and high:
        return f"{'.'.join(map(str, low))} to {'.'.join(map(str, high))}"
    if high:
        return f"up to {'.'.join(map(str, high))}"
    return "unknown"


class RobotPanel(Panel):
    """The robot's health, protocols and sessions (see the module doc).

    Parts, for code and browser tests: ``health_view`` (class ``ot2-robot-health``),
    ``protocols_view`` (``ot2-robot-protocols``; one row per protocol, class
    ``ot2-protocol-row``, with a ``ot2-btn-delete-protocol`` button), ``sessions_view``
    (``ot2-robot-sessions``; rows ``ot2-session-row`` with ``ot2-btn-delete-session``),
    ``refresh_button`` (``ot2-btn-refresh``), ``message_view`` (``ot2-robot-message``).
    """

    css_class = "ot2-robot-panel"

    def __init__(self, robot: RobotClient, *, load: bool = True) -> None:
        if not isinstance(robot, RobotClient):
            raise TypeError(f"RobotPanel needs a RobotClient, not {type(robot).__name__}.")
        super().__init__()
        self.robot = robot
        self.health: Health | None = None
        self.protocols: list[Protocol] = []
        self.sessions: list[Session] = []
        #: The last failure (reading the robot or deleting), also shown in the panel.
        self.last_error: RobotError | None = None
        self._message: tuple[str, str] | None = None
        self.health_view = widgets.HTML()
        self.health_view.add_class("ot2-robot-health")
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Read the robot again",
            layout=widgets.Layout(width="auto"),
        )
        self.refresh_button.add_class("ot2-btn-refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.protocols_view = widgets.VBox()
        self.protocols_view.add_class("ot2-robot-protocols")
        self.sessions_view = widgets.VBox()
        self.sessions_view.add_class("ot2-robot-sessions")
        self.message_view = widgets.HTML()
        self.message_view.add_class("ot2-robot-message")
        top = widgets.HBox(
            [self.health_view, self.refresh_button],
            layout=widgets.Layout(justify_content="space-between", align_items="flex-start"),
        )
        self._set_body(
            top,
            self.message_view,
            widgets.HTML(value=html_block("Protocols", "ot2-section-title")),
            self.protocols_view,
            widgets.HTML(value=html_block("Sessions", "ot2-section-title")),
            self.sessions_view,
        )
        if load:
            self.refresh()
        else:
            self._draw()

    # -- reading and deleting ------------------------------------------------------------------

    def refresh(self) -> None:
        """Read health, protocols and sessions again and redraw. A failure is shown in the
        panel (what was read before stays visible, marked as possibly out of date)."""
        try:
            self.health = self.robot.health()
            self.protocols = sorted(self.robot.protocols(), key=lambda p: p.id)
            self.sessions = self.robot.sessions()
        except RobotError as exc:
            self._failed("Could not read the robot", exc)
        else:
            self.last_error = None
            self._message = None
        self._draw()

    def delete_protocol(self, protocol_id: str) -> None:
        """Delete a protocol (what its button does), then refresh."""
        self._delete(f"protocol {protocol_id!r}", lambda: self.robot.delete_protocol(protocol_id))

    def delete_session(self, session_id: str) -> None:
        """Delete a session, cancelling its run (what its button does), then refresh."""
        self._delete(f"session {session_id}", lambda: self.robot.delete_session(session_id))

    def _delete(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except RobotError as exc:
            self._failed(f"Could not delete {what}", exc)
            self._draw()
            return
        self.refresh()
        if self.last_error is None:
            self._message = ("info", f"Deleted {what}.")
            self._draw_message()

    def _failed(self, doing: str, exc: RobotError) -> None:
        self.last_error = exc
        log.warning("robot panel: %s: %s", doing, exc)
        self._message = ("error", f"{doing}: {exc}")

    # -- drawing -------------------------------------------------------------------------------

    def _draw(self) -> None:
        self.health_view.value = self._health_html()
        self._replace_rows(self.protocols_view, [self._protocol_row(p) for p in self.protocols])
        self._replace_rows(self.sessions_view, [self._session_row(s) for s in self.sessions])
        self._draw_message()

    def _draw_message(self) -> None:
        if self._message is None:
            self.message_view.value = ""
            return
        kind, text = self._message
        box = "ot2-error-box" if kind == "error" else "ot2-info-box"
        self.message_view.value = html_block(f'<div class="{box}">{esc(text)}</div>')

    @staticmethod
    def _replace_rows(box: widgets.VBox, rows: list[widgets.Widget]) -> None:
        old = box.children
        if not rows:
            rows = [widgets.HTML(value=html_block("none", "ot2-muted"))]
        box.children = tuple(rows)
        for widget in old:
            close_tree(widget)

    def _health_html(self) -> str:
        url = f'<span class="ot2-muted">{esc(self.robot.base_url)}</span>'
        health = self.health
        if health is None:
            return html_block(f'<div class="ot2-title">Robot</div>{url}')
        return html_block(
            f'<div class="ot2-title">{esc(health.name or "robot")}</div>'
            f"<div>robot software <code>{esc(health.api_version)}</code> · protocol API "
            f"{esc(_api_range(health))} · firmware {esc(health.fw_version or '?')}</div>"
            f"{url}"
        )

    def _row(self, html: str, button_class: str, on_delete: Callable[[], None]) -> widgets.HBox:
        label = widgets.HTML(value=html_block(html), layout=widgets.Layout(flex="1 1 auto"))
        button = widgets.Button(
            description="Delete",
            icon="trash",
            button_style="danger",
            layout=widgets.Layout(width="auto"),
        )
        button.add_class(button_class)
        button.on_click(lambda _b: on_delete())
        row = widgets.HBox([label, button])
        row.add_class("ot2-row")
        return row

    def _protocol_row(self, protocol: Protocol) -> widgets.HBox:
        status = (
            f'<span class="ot2-tag">{len(protocol.errors)} error(s)</span>'
            if protocol.errors
            else ""
        )
        files = ", ".join(protocol.files)
        row = self._row(
            f"<code>{esc(protocol.id)}</code> {esc(protocol.name)} {status}"
            f' <span class="ot2-muted">({esc(files)})</span>',
            "ot2-btn-delete-protocol",
            lambda: self.delete_protocol(protocol.id),
        )
        row.add_class("ot2-protocol-row")
        return row

    def _session_row(self, session: Session) -> widgets.HBox:
        row = self._row(
            f"<code>{esc(session.protocol_id)}</code> "
            f'<span class="ot2-tag">{esc(session.state)}</span>'
            f' <span class="ot2-muted">session {esc(session.id)}</span>',
            "ot2-btn-delete-session",
            lambda: self.delete_session(session.id),
        )
        row.add_class("ot2-session-row")
        return row

    # -- text ----------------------------------------------------------------------------------

    def text(self) -> str:
        health = self.health
        if health is None:
            lines = ["RobotPanel: robot not reachable"]
        else:
            lines = [
                f"RobotPanel: {health.name} (robot software {health.api_version}, "
                f"protocol API {_api_range(health)})"
            ]
        if self._message is not None and self._message[0] == "error":
            lines.append(f"  {self._message[1]}")
        if self.protocols:
            lines.append(f"  protocols ({len(self.protocols)}):")
            for protocol in self.protocols:
                status = f"{len(protocol.errors)} error(s)" if protocol.errors else "ok"
                lines.append(f"    {protocol.id}: {protocol.name} ({status})")
        else:
            lines.append("  protocols: none")
        if self.sessions:
            lines.append(f"  sessions ({len(self.sessions)}):")
            for session in self.sessions:
                lines.append(f"    {session.protocol_id}: {session.state}")
        else:
            lines.append("  sessions: none")
        return "\n".join(lines)
