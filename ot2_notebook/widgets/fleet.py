"""``FleetPanel``: every connected robot at a glance, live: reachable or not, its software,
the protocol it holds, its session's state and progress.

Each robot is looked at by its own :class:`RobotPoller` thread (``GET /health``,
``/protocols``, ``/sessions`` every ``interval`` seconds, each request bounded by
``timeout``), with its own HTTP connections. So a robot that goes away (switched off, out of
the network, a stopped simulator) costs only its own thread a short timeout: it is shown as
unreachable at its next look, the others keep moving, and it comes back by itself when it
answers again. While it does not answer, its poller looks less often (up to every 5 s).

The pollers only store what they found and ask the panel's
:class:`~ot2_notebook.widgets.threads.Renderer` to redraw; all widget changes happen on the
renderer's thread under the panel's lock (see :mod:`~ot2_notebook.widgets.threads` for why
that reaches the browser while a cell is busy). The panel reads no robot on the kernel's main
thread. :meth:`FleetPanel.close` stops and joins every thread.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as widgets

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import RobotError, RobotUnreachableError
from ot2_notebook.client.http import RobotClient
from ot2_notebook.client.models import Health, SessionData
from ot2_notebook.client.reconcile import load_total
from ot2_notebook.widgets.base import Panel
from ot2_notebook.widgets.progress import run_starts
from ot2_notebook.widgets.style import esc, html_block
from ot2_notebook.widgets.threads import Renderer

__all__ = ["FleetPanel", "RobotPoller", "RobotStatus", "SessionSummary"]

log = logging.getLogger("ot2_notebook.widgets")

_MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class SessionSummary:
    """A robot's newest session: its state and how far its run got."""

    id: str
    protocol_id: str
    state: str
    index: int
    total: int | None

    @classmethod
    def of(cls, data: SessionData) -> SessionSummary:
        steps = run_starts(data)
        total = load_total(data.events)
        index = max((s.index or 0 for s in steps), default=0)
        if data.state == states.FINISHED and total:
            index = total
        return cls(data.id, data.protocol_id, data.state, index, total)

    def progress(self) -> str:
        if self.total and self.state in (states.RUNNING, states.PAUSED, states.FINISHED):
            return f"step {self.index} of {self.total}"
        return ""


@dataclass(frozen=True)
class RobotStatus:
    """What the panel knows of one robot: ``reachable`` is ``None`` before the first look;
    ``health``, ``protocols`` and ``session`` are from the last look that succeeded (kept,
    marked stale, while the robot does not answer); ``problem`` is the last failure."""

    name: str
    url: str
    reachable: bool | None = None
    health: Health | None = None
    protocols: tuple[str, ...] = ()
    session: SessionSummary | None = None
    problem: str | None = None
    looks: int = 0

    @property
    def state_class(self) -> str:
        return {True: "reachable", False: "unreachable"}.get(self.reachable, "unknown")  # type: ignore[arg-type]

    def software(self) -> str:
        health = self.health
        if health is None:
            return ""
        simulator = health.raw.get("simulator")
        text = f"robot software {health.api_version or '?'}"
        if isinstance(simulator, dict):
            text += f" (simulated: {simulator.get('name', 'ot2-sim')})"
        return text


class RobotPoller:
    """Looks at one robot every ``interval`` s on its own daemon thread and reports a
    :class:`RobotStatus` to ``on_status`` after each look (see the module doc)."""

    def __init__(
        self,
        name: str,
        client: RobotClient,
        on_status: Callable[[RobotStatus], None],
        *,
        interval: float = 1.0,
        timeout: float = 2.0,
        start: bool = True,
    ) -> None:
        self.name = name
        self.interval = interval
        self._client = RobotClient(client.base_url, timeout=timeout)
        self._on_status = on_status
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.status = RobotStatus(name, client.base_url)
        self._thread = threading.Thread(target=self._run, name=f"ot2-fleet {name}", daemon=True)
        if start:
            self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def poke(self) -> None:
        """Look again now."""
        self._wake.set()

    def close(self, timeout: float = 10.0) -> bool:
        """Stop looking and join the thread; returns whether it ended."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._client.close()
        return not self._thread.is_alive()

    def look(self) -> RobotStatus:
        """One look at the robot (what the thread does each time)."""
        previous = self.status
        try:
            health = self._client.health()
            protocols = tuple(sorted(p.id for p in self._client.protocols()))
            sessions = self._client.sessions()
        except RobotUnreachableError as exc:
            return RobotStatus(
                self.name,
                previous.url,
                False,
                previous.health,
                previous.protocols,
                previous.session,
                f"{exc.title}: {exc.reason}",
                previous.looks + 1,
            )
        except RobotError as exc:  # it answers, but not as it should
            return RobotStatus(
                self.name,
                previous.url,
                True,
                previous.health,
                previous.protocols,
                previous.session,
                exc.title + (f": {exc.detail}" if exc.detail else ""),
                previous.looks + 1,
            )
        session = SessionSummary.of(sessions[-1].data) if sessions else None
        return RobotStatus(
            self.name, previous.url, True, health, protocols, session, None, previous.looks + 1
        )

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.status = self.look()
            except Exception:  # a bug here must not leave a silent dead poller
                log.exception("fleet panel: looking at %s failed", self.name)
            try:
                self._on_status(self.status)
            except Exception:
                log.exception("fleet panel: on_status failed")
            if self.status.reachable is False:
                delay = min(max(delay, self.interval) * 2, _MAX_BACKOFF)
            else:
                delay = self.interval


class FleetPanel(Panel):
    """Every robot in ``robots`` (name -> client; default: every connected robot,
    :func:`ot2_notebook.robots`), live (see the module doc). ``default`` marks the kernel's
    default robot. ``interval`` and ``timeout`` are each poller's.

    Parts, for code and browser tests: ``rows`` (robot name -> an ``ipywidgets.HTML``
    with classes ``ot2-fleet-row`` and ``ot2-fleet-reachable`` / ``ot2-fleet-unreachable``
    / ``ot2-fleet-unknown``), ``summary`` (``ot2-fleet-summary``). :meth:`status` is what
    the panel shows of one robot; :meth:`wait_until` waits for what it shows.
    """

    css_class = "ot2-fleet-panel"
    renderer: Renderer | None = None

    def __init__(
        self,
        robots: Mapping[str, RobotClient] | None = None,
        *,
        default: str | None = None,
        interval: float = 1.0,
        timeout: float = 2.0,
        watch: bool = True,
    ) -> None:
        if robots is None:
            from ot2_notebook.client.current import default_robot_name
            from ot2_notebook.client.current import robots as connected

            robots = connected()
            default = default if default is not None else default_robot_name()
        for name, client in robots.items():
            if not isinstance(client, RobotClient):
                raise TypeError(
                    f"FleetPanel needs RobotClients, not {type(client).__name__} for {name!r}."
                )
        super().__init__()
        self.default = default
        self._lock = threading.RLock()
        self._drawn = threading.Condition(self._lock)
        self._statuses: dict[str, RobotStatus] = {
            name: RobotStatus(name, client.base_url) for name, client in robots.items()
        }
        self._shown: dict[str, RobotStatus] = dict(self._statuses)
        self.summary = widgets.HTML()
        self.summary.add_class("ot2-fleet-summary")
        self.rows: dict[str, widgets.HTML] = {}
        for name in robots:
            row = widgets.HTML()
            row.add_class("ot2-fleet-row")
            self.rows[name] = row
        title = widgets.HTML(value=html_block('<div class="ot2-title">Robots</div>'))
        self._set_body(title, self.summary, *self.rows.values())
        self.pollers: dict[str, RobotPoller] = {}
        self._render()
        if watch and robots:
            self.renderer = Renderer(self._render, name="ot2-render fleet")
            for name, client in robots.items():
                self.pollers[name] = RobotPoller(
                    name, client, self._on_status, interval=interval, timeout=timeout
                )

    # -- from the pollers' threads -------------------------------------------------------------

    def _on_status(self, status: RobotStatus) -> None:
        with self._lock:
            self._statuses[status.name] = status
        if self.renderer is not None:
            self.renderer.request()

    # -- drawing (renderer thread, under the lock) ---------------------------------------------

    def _render(self) -> None:
        with self._lock:
            for name, status in self._statuses.items():
                row = self.rows[name]
                row.value = self._row_html(status)
                wanted = f"ot2-fleet-{status.state_class}"
                for other in ("reachable", "unreachable", "unknown"):
                    css = f"ot2-fleet-{other}"
                    if css != wanted and css in row._dom_classes:
                        row.remove_class(css)
                if wanted not in row._dom_classes:
                    row.add_class(wanted)
            self.summary.value = html_block(esc(self._summary_text()), "ot2-muted")
            self._shown = dict(self._statuses)
            self._drawn.notify_all()

    def _summary_text(self) -> str:
        count = len(self._statuses)
        down = sum(1 for s in self._statuses.values() if s.reachable is False)
        text = f"{count} robot{'s' if count != 1 else ''}"
        if down:
            text += f", {down} unreachable"
        return text

    def _row_html(self, status: RobotStatus) -> str:
        name = f"<b>{esc(status.name)}</b>"
        if status.name == self.default:
            name += ' <span class="ot2-tag">default</span>'
        badge = {
            "reachable": '<span class="ot2-badge ot2-state-finished">reachable</span>',
            "unreachable": '<span class="ot2-badge ot2-state-error">unreachable</span>',
            "unknown": '<span class="ot2-badge ot2-state-stopped">looking…</span>',
        }[status.state_class]
        parts = [f'{name} {badge} <span class="ot2-muted">{esc(status.url)}</span>']
        details = self._details(status)
        stale = ' <span class="ot2-muted">(last known)</span>' if status.reachable is False else ""
        if details:
            parts.append(esc(" · ".join(details)) + stale)
        session = status.session
        if session is not None and session.total:
            parts.append(
                f'<progress value="{session.index}" max="{session.total}"></progress> '
                f"{esc(session.progress())}"
            )
        if status.problem:
            parts.append(f'<span class="ot2-muted">{html.escape(status.problem)}</span>')
        return html_block("<br>".join(parts))

    @staticmethod
    def _details(status: RobotStatus) -> list[str]:
        details = []
        software = status.software()
        if software:
            details.append(software)
        if status.looks:
            if status.protocols:
                details.append("protocol " + ", ".join(repr(p) for p in status.protocols))
            elif status.health is not None:
                details.append("no protocol")
        session = status.session
        if session is not None:
            text = f"session {session.state} ({session.protocol_id})"
            if session.progress():
                text += f", {session.progress()}"
            details.append(text)
        return details

    # -- reading ---------------------------------------------------------------------------

    def status(self, name: str) -> RobotStatus:
        """What the panel shows now of robot ``name``."""
        with self._lock:
            return self._shown[name]

    def statuses(self) -> dict[str, RobotStatus]:
        with self._lock:
            return dict(self._shown)

    def wait_until(
        self, condition: Callable[[dict[str, RobotStatus]], bool], timeout: float = 30.0
    ) -> dict[str, RobotStatus]:
        """Block until what the panel shows satisfies ``condition`` (given every robot's
        shown :class:`RobotStatus`); returns them. :class:`TimeoutError` after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._drawn:
            while not condition(dict(self._shown)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"The fleet panel did not show the expected state within {timeout:g} s; "
                        f"it shows:\n{self.text()}"
                    )
                self._drawn.wait(left)
            return dict(self._shown)

    @property
    def threads(self) -> list[threading.Thread]:
        found = [p.thread for p in self.pollers.values()]
        if self.renderer is not None:
            found.append(self.renderer.thread)
        return [t for t in found if t.is_alive()]

    def close(self, timeout: float = 10.0) -> None:
        """Stop every poller and the renderer (joining their threads), close the widgets."""
        for poller in self.pollers.values():
            poller.close(timeout)
        if self.renderer is not None:
            self.renderer.close(timeout)
        super().close()

    def text(self) -> str:
        with self._lock:
            lines = [f"FleetPanel: {self._summary_text()}"]
            for status in self._shown.values():
                head = status.name + (" (default)" if status.name == self.default else "")
                state = {True: "reachable", False: "unreachable", None: "not looked at yet"}[
                    status.reachable
                ]
                details = self._details(status)
                line = f"  {head}: {state}"
                if details and status.reachable is False:
                    line += f" (last known: {', '.join(details)})"
                elif details:
                    line += ", " + ", ".join(details)
                lines.append(line)
            return "\n".join(lines)
