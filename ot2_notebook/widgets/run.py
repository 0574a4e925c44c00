"""``RunPanel``: a protocol session's live state, with Start / Pause / Resume / Cancel.

The panel follows the session with a :class:`~ot2_notebook.client.watcher.SessionWatcher`
(the robot's feed where it publishes session events, polling where it does not), keeps the
run's progress in a :class:`~ot2_notebook.widgets.progress.RunTracker`, and redraws from a
:class:`~ot2_notebook.widgets.threads.Renderer` (see that module for how updates from these
threads reach the browser).

The buttons are enabled exactly when the robot accepts their command in the current state
(:data:`ot2_notebook.session_states.ALLOWED_COMMANDS`; for a run of robot software 5+,
``RUNS_ALLOWED_COMMANDS``, via :meth:`Session.commands_allowed`). The robot's own run status
(robot software 5+: ``idle``, ``succeeded`` ...) is shown beside the state. A click sends
the command from the kernel's main thread; a failure is shown in the panel
(``ot2-run-message``), logged on the ``ot2_notebook.widgets`` logger and kept in
:attr:`RunPanel.last_error`.

Threads. A panel owns a watcher (plus its feed socket's thread) and a renderer. They end
when the panel is closed (:meth:`RunPanel.close`), when the session can do nothing more
(cancelled, failed, deleted), and when a newer panel takes over: a new panel for the same
session retires the old one, and a new session on the same robot retires panels of older
sessions whose run is over (only the newest session accepts commands). A retired panel
keeps its last view, with its buttons disabled.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import NotFoundError, RobotError
from ot2_notebook.client.http import Protocol, Session
from ot2_notebook.client.models import ProtocolData, ProtocolErrorInfo, SessionData, StepEvent
from ot2_notebook.client.watcher import SessionWatcher
from ot2_notebook.deck import DefinitionError
from ot2_notebook.widgets.base import Panel
from ot2_notebook.widgets.deck_view import DeckView
from ot2_notebook.widgets.errors import ErrorLocation, describe_error
from ot2_notebook.widgets.progress import RunTracker
from ot2_notebook.widgets.steptime import DELAY, PAUSE
from ot2_notebook.widgets.style import esc, format_duration, html_block
from ot2_notebook.widgets.threads import Renderer

__all__ = ["BUTTON_COMMANDS", "RunPanel", "enabled_buttons"]

log = logging.getLogger("ot2_notebook.widgets")

#: Button name -> the session command it sends.
BUTTON_COMMANDS: dict[str, str] = {
    "start": states.START_RUN,
    "pause": states.PAUSE,
    "resume": states.RESUME,
    "cancel": states.CANCEL,
}

_BUTTON_LOOK = {
    "start": ("Start", "play", "success", "Start the run"),
    "pause": ("Pause", "pause", "warning", "Pause after the current step"),
    "resume": ("Resume", "play", "info", "Resume the paused run"),
    "cancel": ("Cancel", "stop", "danger", "Cancel the run (the session then ends)"),
}

#: A callback placing a run's error in the notebook (the magics know the cells).
ErrorLocator = Callable[[ProtocolErrorInfo], "ErrorLocation | None"]


def enabled_buttons(state: str | None, allowed: frozenset[str] | None = None) -> frozenset[str]:
    """The buttons that are enabled in ``state``: those whose command the robot allows
    (``allowed``: the robot's commands in that state; by default a 4.x session's)."""
    if allowed is None:
        allowed = states.ALLOWED_COMMANDS.get(state or "", frozenset())
    return frozenset(name for name, command in BUTTON_COMMANDS.items() if command in allowed)


# Panels with live threads, to retire superseded ones (see the module doc).
_LIVE: weakref.WeakSet[RunPanel] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class RunPanel(Panel):
    """Live view and controls of one protocol session (see the module doc).

    ``protocol`` (a :class:`~ot2_notebook.client.Protocol` or its data) gives the name and
    the estimated run time; it is fetched from the robot when not given. ``locate_error``
    maps a run error to a notebook cell (:class:`ErrorLocation`). ``watch=False`` draws the
    session once and starts no thread. ``use_feed`` and ``watcher_options`` go to the
    :class:`~ot2_notebook.client.watcher.SessionWatcher`. ``deck=True`` adds the deck
    (a :class:`~ot2_notebook.widgets.deck_view.DeckView` of the session, with its own
    watcher: the load simulation's last step until the run starts, then the run as it
    goes), drawing custom labware from ``definitions``.

    Parts, for code and browser tests: ``state_view`` (class ``ot2-run-state``),
    ``buttons`` (``start``/``pause``/``resume``/``cancel``: ``ot2-btn-<name>``),
    ``progress`` (``ot2-run-progress``), ``progress_text`` (``ot2-run-progress-text``),
    ``step_view`` (``ot2-run-step``), ``time_view`` (``ot2-run-time``), ``error_view``
    (``ot2-run-error``), ``message_view`` (``ot2-run-message``), ``deck_view`` (with
    ``deck=True``: ``ot2-deck-view``, above the log; else ``None``), ``log_view``
    (``ot2-run-log``). The text form (:meth:`text`) describes the run alone, deck or not
    (``panel.deck_view.text()`` describes the deck).
    """

    css_class = "ot2-run-panel"
    # Defaults for a panel whose construction failed (ipywidgets closes it on collection).
    watcher: SessionWatcher | None = None
    renderer: Renderer | None = None

    def __init__(
        self,
        session: Session,
        *,
        protocol: Protocol | ProtocolData | None = None,
        locate_error: ErrorLocator | None = None,
        watch: bool = True,
        use_feed: bool = True,
        log_limit: int = 200,
        pace: float | None = None,
        watcher_options: dict[str, Any] | None = None,
        deck: bool = False,
        definitions: Iterable[Mapping[str, Any] | str | Path] = (),
    ) -> None:
        if not isinstance(session, Session):
            raise TypeError(
                "RunPanel needs a Session (from robot.create_session or robot.session), "
                f"not {type(session).__name__}."
            )
        super().__init__()
        self.session = session
        self.locate_error = locate_error
        self._lock = threading.RLock()
        self._state_changed = threading.Condition(self._lock)
        self.protocol = self._protocol_data(protocol)
        self.tracker = RunTracker(
            self.protocol.estimated_duration if self.protocol else None,
            log_limit=log_limit,
            pace=pace if pace is not None else self._robot_pace(),
        )
        #: The last failure of a button's command (also shown in the panel).
        self.last_error: Exception | None = None
        self._message: tuple[str, str] | None = None  # (kind, text)
        self._rendered_state: str | None = None
        self._rendered_run = 0  # the tracker's run count when the panel was last drawn
        self._retired: str | None = None
        self.watcher: SessionWatcher | None = None
        self.renderer: Renderer | None = None
        self.deck_view: DeckView | None = None
        if deck:
            self.deck_view = self._deck_view(definitions, watch, use_feed, watcher_options)
        self._build()
        try:
            session.refresh()
            self.tracker.load_snapshot(session.data)
        except RobotError as exc:
            self._set_message("error", f"Could not read the session: {exc}")
            log.warning("run panel for session %s: %s", session.id, exc)
        self._render()
        if watch and not self._finished_for_good():
            self._start_threads(use_feed, dict(watcher_options or {}))

    # -- building --------------------------------------------------------------------------

    def _protocol_data(self, protocol: Protocol | ProtocolData | None) -> ProtocolData | None:
        if isinstance(protocol, Protocol):
            return protocol.data
        if isinstance(protocol, ProtocolData):
            return protocol
        if protocol is not None:
            raise TypeError(
                f"protocol must be a Protocol or ProtocolData, not {type(protocol).__name__}."
            )
        try:
            return self.session.protocol().data
        except RobotError as exc:  # the panel works without it (no name, no estimate)
            log.info("run panel: protocol %s not readable: %s", self.session.protocol_id, exc)
            return None

    def _deck_view(
        self,
        definitions: Iterable[Mapping[str, Any] | str | Path],
        watch: bool,
        use_feed: bool,
        watcher_options: dict[str, Any] | None,
    ) -> DeckView | None:
        """The deck of the session; ``None`` (the run panel works without it, and says so)
        when the protocol or a custom definition cannot be read."""
        try:
            return DeckView(
                self.protocol,
                session=self.session,
                definitions=definitions,
                watch=watch,
                use_feed=use_feed,
                watcher_options=watcher_options,
            )
        except (RobotError, DefinitionError) as exc:
            log.warning("run panel for session %s: no deck view: %s", self.session.id, exc)
            self._set_message("info", f"The deck cannot be shown: {exc}")
            return None

    def _robot_pace(self) -> float:
        """Robot seconds per second: a simulated robot started with ``--speed X`` says X in
        ``GET /health`` (``simulator.speed``); a robot runs at 1."""
        try:
            health = self.session.client.health()
        except RobotError:
            return 1.0
        simulator = health.raw.get("simulator")
        speed = simulator.get("speed") if isinstance(simulator, dict) else None
        if isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0:
            return float(speed)
        return 1.0

    def _build(self) -> None:
        name = self.protocol.name if self.protocol else self.session.protocol_id
        self.header = widgets.HTML(
            value=html_block(
                f'<div class="ot2-title">Run: {esc(name)}</div>'
                f'<div class="ot2-muted">protocol <code>{esc(self.session.protocol_id)}</code>'
                f" · session <code>{esc(self.session.id)}</code></div>"
            )
        )
        self.header.add_class("ot2-run-header")
        self.state_view = widgets.HTML()
        self.state_view.add_class("ot2-run-state")
        self.buttons: dict[str, widgets.Button] = {}
        for name_, (label, icon, style, tooltip) in _BUTTON_LOOK.items():
            button = widgets.Button(
                description=label,
                icon=icon,
                button_style=style,
                tooltip=tooltip,
                disabled=True,
                layout=widgets.Layout(width="auto", min_width="90px"),
            )
            button.add_class("ot2-btn")
            button.add_class(f"ot2-btn-{name_}")
            button.on_click(lambda _b, command=BUTTON_COMMANDS[name_]: self._click(command))
            self.buttons[name_] = button
        controls = widgets.HBox(
            [self.state_view, *self.buttons.values()],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        controls.add_class("ot2-run-controls")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="60%")
        )
        self.progress.add_class("ot2-run-progress")
        self.progress_text = widgets.HTML()
        self.progress_text.add_class("ot2-run-progress-text")
        progress_row = widgets.HBox(
            [self.progress, self.progress_text], layout=widgets.Layout(align_items="center")
        )
        self.step_view = widgets.HTML()
        self.step_view.add_class("ot2-run-step")
        self.time_view = widgets.HTML()
        self.time_view.add_class("ot2-run-time")
        self.error_view = widgets.HTML()
        self.error_view.add_class("ot2-run-error")
        self.message_view = widgets.HTML()
        self.message_view.add_class("ot2-run-message")
        self.log_view = widgets.HTML()
        self.log_view.add_class("ot2-run-log")
        deck = [self.deck_view] if self.deck_view is not None else []
        self._set_body(
            self.header,
            controls,
            progress_row,
            self.step_view,
            self.time_view,
            self.error_view,
            self.message_view,
            *deck,
            self.log_view,
        )

    def _start_threads(self, use_feed: bool, options: dict[str, Any]) -> None:
        short = self.session.id[:8]
        self.renderer = Renderer(self._render, name=f"ot2-render {short}")
        with _LIVE_LOCK:
            others = list(_LIVE)
            _LIVE.add(self)
        for other in others:
            other._maybe_retire_for(self)
        self.watcher = SessionWatcher(
            self.session.client,
            self.session.id,
            on_change=self._on_change,
            on_step=self._on_step,
            on_error=self._on_error,
            on_robot_status=self._on_robot_status,
            use_feed=use_feed,
            **{**options, "start": False},
        )
        self.watcher.start()  # only now: its callbacks read self.watcher

    # -- watcher callbacks (on the watcher's thread) -------------------------------------------

    def _on_change(self, previous: str | None, current: str) -> None:
        watcher = self.watcher
        snapshot = watcher.snapshot if watcher is not None else None
        with self._lock:
            if previous is None and snapshot is not None and snapshot.state == current:
                self.tracker.load_snapshot(snapshot)  # the watcher's first look: resync
            else:
                self.tracker.on_state(previous, current, snapshot)
            if self._message_is_transient():
                self._message = None  # "start sent; waiting for the robot": it answered
            self._after_update()

    def _on_step(self, step: StepEvent) -> None:
        with self._lock:
            self.tracker.on_step(step)
            if self._message_is_transient():
                self._message = None
            self._after_update()

    def _on_robot_status(self, data: SessionData) -> None:
        """The robot's own run status changed within one state (``stop-requested`` ->
        ``stopped``): redraw, and end the threads once the run is over for good."""
        with self._lock:
            self._after_update()

    def _on_error(self, exc: RobotError) -> None:
        with self._lock:
            if isinstance(exc, NotFoundError):
                self.tracker.on_gone()
                self._set_message("error", "The session was deleted on the robot.")
            else:
                # transient: the next state change or step (news from the robot) clears it
                self._set_message(
                    "error", f"Lost contact with the robot (still trying): {exc}", transient=True
                )
                self.tracker.note(f"robot unreachable: {exc.title}", "error")
            self._after_update()

    def _after_update(self) -> None:
        renderer = self.renderer
        if renderer is None:
            return
        renderer.ticking = self.tracker.state in (states.RUNNING, states.PAUSED)
        renderer.request()
        if self._finished_for_good():
            self._stop_threads(final_render=True)

    # -- button clicks (on the kernel's main thread) ---------------------------------------------

    def _click(self, command: str) -> None:
        name = states.short_name(command)
        with self._lock:
            state = self.tracker.state
            if self._retired:
                self._set_message("info", f"{self._retired}: {name} is not available here.")
                self._render()
                return
            if command not in self.session.commands_allowed(state):
                self._set_message(
                    "info", f"{name} is not possible while the session is {state!r}: ignored."
                )
                self._render()
                return
            # Logged before sending: the robot's answer may come back (on the watcher's
            # thread) before this thread returns from the request.
            self.tracker.note(f"{name} sent")
        try:
            self.session.execute(command)
        except Exception as exc:  # shown in the panel and logged: never lost
            self.last_error = exc
            if isinstance(exc, RobotError):
                log.warning("run panel: %s failed: %s", command, exc)
            else:
                log.exception("run panel: %s failed", command)
            with self._lock:
                self._set_message("error", f"{name} failed: {exc}")
                self.tracker.note(f"{name} failed: {getattr(exc, 'title', exc)}", "error")
                self._render()
            return
        with self._lock:
            self.last_error = None
            if self.tracker.state == state:  # no news from the robot yet
                self._set_message("info", f"{name} sent; waiting for the robot…", transient=True)
            self._render()
        if self.watcher is not None:
            self.watcher.poke()

    # -- messages ------------------------------------------------------------------------------

    def _set_message(self, kind: str, text: str, *, transient: bool = False) -> None:
        self._message = (("transient-" if transient else "") + kind, text)

    def _message_is_transient(self) -> bool:
        return self._message is not None and self._message[0].startswith("transient-")

    # -- drawing (under the lock; from any thread) -------------------------------------------------

    def _render(self) -> None:
        with self._lock:
            tracker = self.tracker
            state = tracker.state
            enabled = (
                frozenset()
                if self._retired or tracker.gone
                else enabled_buttons(state, self.session.commands_allowed(state))
            )
            self.state_view.value = self._state_html()
            shown = "deleted" if tracker.gone else (state or "unknown")
            for name, button in self.buttons.items():
                button.disabled = name not in enabled
                # a disabled button says why (it is drawn muted: panels.css)
                button.tooltip = (
                    _BUTTON_LOOK[name][3]
                    if name in enabled
                    else f"{_BUTTON_LOOK[name][0]} is not possible: the session is {shown}"
                    + (" (this panel no longer updates)" if self._retired else "")
                )
            total = tracker.total or 0
            self.progress.max = max(total, 1)
            self.progress.value = min(tracker.index, self.progress.max)
            self.progress.bar_style = {
                states.FINISHED: "success",
                states.ERROR: "danger",
                states.PAUSED: "warning",
            }.get(state or "", "info")
            self.progress_text.value = html_block(esc(self._progress_text()))
            self.step_view.value = html_block(self._step_html())
            self.time_view.value = html_block(esc(self._time_text()), "ot2-muted")
            self.error_view.value = self._error_html()
            self.message_view.value = self._message_html()
            self.log_view.value = self._log_html()
            self._rendered_state = "deleted" if tracker.gone else state
            self._rendered_run = tracker.runs
            self._state_changed.notify_all()

    def _robot_status(self) -> str | None:
        """The robot's own run status when it differs from the state shown (robot software
        5+), from the watcher's latest look (else the session's)."""
        watcher = self.watcher
        data = watcher.snapshot if watcher is not None and watcher.snapshot else None
        status = (data or self.session.data).robot_status
        if status is None or status == self.tracker.state or self.tracker.gone:
            return None
        return status

    def _state_html(self) -> str:
        state = "deleted" if self.tracker.gone else (self.tracker.state or "unknown")
        label = state
        if state == states.STOPPED:
            label = "cancelled" if self.tracker.cancelled else "loading"
        elif self.tracker.waiting_for_user() is not None:
            label = "paused (waiting for you)"  # the protocol's own ctx.pause, as text() says
        robot = self._robot_status()
        status = f' <span class="ot2-muted ot2-robot-status">robot: {esc(robot)}</span>'
        return html_block(
            f'<span class="ot2-badge ot2-state-{esc(state)}">{esc(label)}</span>'
            + (status if robot else "")
        )

    def _progress_text(self) -> str:
        tracker = self.tracker
        if tracker.total:
            return f"step {tracker.index} of {tracker.total}"
        return f"step {tracker.index}" if tracker.index else "no steps yet"

    def _step_html(self) -> str:
        current = self.tracker.current
        if current is None:
            return '<span class="ot2-muted">No step has run yet.</span>'
        label = "Current step" if self.tracker.run_active else "Last step"
        note = self._step_note()
        extra = f'<div class="ot2-run-step-time">{esc(note)}</div>' if note else ""
        return f"<b>{label}:</b> {esc(current)}{extra}"

    def _step_note(self) -> str:
        """How long the current step takes, when it is a long one (see
        :mod:`~ot2_notebook.widgets.steptime`); ``""`` for ordinary steps."""
        tracker = self.tracker
        timing = tracker.step_timing()
        if timing is None:
            return ""
        if timing.kind == PAUSE:
            if tracker.state != states.PAUSED:
                return ""
            said = f": {timing.what}" if timing.what else ""
            return f"Waiting for you{said}. Press Resume when ready."
        left = tracker.step_remaining()
        so_far = tracker.step_running_time()
        what = timing.what[0].upper() + timing.what[1:]
        if timing.seconds is not None and left is not None:
            length = format_duration(timing.seconds)
            if timing.kind == DELAY:
                return f"Delay of {length}: {format_duration(left)} left"
            return f"{what} for {length}: about {format_duration(left)} left"
        if so_far is None:
            return what
        return f"{what}: {format_duration(so_far)} so far"

    def _time_text(self) -> str:
        tracker = self.tracker
        elapsed = tracker.elapsed()
        if elapsed is None:
            if self.protocol and self.protocol.estimated_duration is not None:
                return f"estimated run time {format_duration(self.protocol.estimated_duration)}"
            return ""
        if not tracker.run_active:
            return f"ran for {format_duration(elapsed)}"
        text = f"elapsed {format_duration(elapsed)}"
        if tracker.state == states.PAUSED:
            text += " (paused)"
        remaining = tracker.remaining()
        if remaining is not None:
            text += f" · about {format_duration(remaining)} left"
        return text

    def _run_error(self) -> ErrorLocation | None:
        error = self.tracker.error
        if error is None:
            return None
        if self.locate_error is not None:
            try:
                located = self.locate_error(error)
            except Exception:
                log.exception("run panel: locate_error failed")
                located = None
            if located is not None:
                return located
        return describe_error(error)

    def _error_html(self) -> str:
        located = self._run_error()
        if located is None:
            if self.tracker.state == states.ERROR:
                return html_block(
                    '<div class="ot2-error-box"><b>Run failed.</b> The robot does not say why '
                    "(robot software 4.x hides run errors): simulate the protocol with "
                    "ot2-sim to see the error and its line.</div>"
                )
            return ""
        where = f"<b>{esc(located.where)}</b>: " if located.where else ""
        source = ""
        if located.source_line and located.source_line.strip():
            source = f"<pre>{esc(located.source_line.rstrip())}</pre>"
        return html_block(
            f'<div class="ot2-error-box"><b>Run failed</b> {where}{esc(located.headline)}'
            f"{source}</div>"
        )

    def _message_html(self) -> str:
        if self._message is None:
            return ""
        kind, text = self._message
        box = "ot2-error-box" if kind.endswith("error") else "ot2-info-box"
        return html_block(f'<div class="{box}">{esc(text)}</div>')

    def _log_html(self) -> str:
        lines = []
        for entry in self.tracker.log:
            css = {"state": "ot2-log-state", "error": "ot2-log-error"}.get(entry.kind, "")
            lines.append(f'<div class="{css}">{esc(entry.plain())}</div>')
        return html_block("".join(lines) or '<div class="ot2-muted">(no events yet)</div>')

    # -- lifecycle -----------------------------------------------------------------------------

    def _finished_for_good(self) -> bool:
        """Whether the session can change no more: deleted, failed, or cancelled."""
        tracker = self.tracker
        if tracker.gone or tracker.state == states.ERROR:
            return True
        watcher = self.watcher
        data = watcher.snapshot if watcher is not None and watcher.snapshot else self.session.data
        if data.robot_status is not None and data.robot_status not in states.RUN_TERMINAL_STATUSES:
            return False  # robot software 5+: stopping, or not started yet
        if tracker.state == states.FINISHED and not self.session.commands_allowed(tracker.state):
            return True  # a run of robot software 5+ runs once
        return tracker.state == states.STOPPED and tracker.cancelled

    def _stop_threads(self, *, final_render: bool) -> None:
        watcher, renderer = self.watcher, self.renderer
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if watcher is not None:
            watcher.close()  # from the watcher's own thread this only asks it to stop
        if renderer is not None:
            if final_render:
                renderer.finish()
            else:
                renderer.close()

    def _maybe_retire_for(self, newer: RunPanel) -> None:
        """Called when ``newer`` starts watching: step aside if it supersedes this panel."""
        if self.session.client.base_url != newer.session.client.base_url:
            return
        with self._lock:
            # A session that is not running can take no command once a newer one exists.
            idle = self.tracker.state not in (states.RUNNING, states.PAUSED)
            over = idle and not self.tracker.run_active
        if self.session.id == newer.session.id:
            reason = "A newer panel follows this session"
        elif over:
            reason = "A newer session was created on this robot (only the newest is active)"
        else:
            return
        self.retire(reason)

    def retire(self, reason: str) -> None:
        """Stop following the session; keep the last view, with the buttons disabled."""
        with self._lock:
            self._retired = reason
            self._set_message("info", f"{reason}; this panel no longer updates.")
            self._render()
        self._stop_threads(final_render=False)
        if self.deck_view is not None:
            self.deck_view.stop()  # the newer panel's deck follows the robot now

    @property
    def retired(self) -> bool:
        return self._retired is not None

    @property
    def threads(self) -> list[threading.Thread]:
        """The panel's threads that are still running (for diagnostics and tests)."""
        found = []
        if self.watcher is not None:
            found.append(self.watcher.thread)
            subscriber = self.watcher.subscriber
            if subscriber is not None and subscriber.thread is not None:
                found.append(subscriber.thread)
        if self.renderer is not None:
            found.append(self.renderer.thread)
        if self.deck_view is not None:
            found += self.deck_view.threads
        return [t for t in found if t.is_alive()]

    def close(self, timeout: float = 15.0) -> None:
        """Stop the watcher and renderer (joining their threads), then close the widgets."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.watcher is not None:
            self.watcher.close(timeout)
        if self.renderer is not None:
            self.renderer.close(timeout)
        super().close()

    # -- reading -----------------------------------------------------------------------------

    @property
    def state(self) -> str | None:
        """The session state the panel shows (``"deleted"`` once the session is gone)."""
        with self._lock:
            return self._rendered_state

    def enabled_buttons(self) -> frozenset[str]:
        """The names of the buttons that are enabled now."""
        with self._lock:
            return frozenset(n for n, b in self.buttons.items() if not b.disabled)

    def wait_for(
        self, state: str | Iterable[str], timeout: float = 60.0, *, run: int | None = None
    ) -> str:
        """Block until the panel *shows* ``state`` (or one of several); returns it.

        Use it before relying on the panel's text (e.g. in a notebook checked by nbval):
        the panel draws from its own threads, a moment after the robot changes. ``run=N``
        waits for that state in the session's N-th run (or a later one): after a second
        Start, the panel still shows the first run's ``finished`` until it has drawn the
        new run.
        """
        wanted = {state} if isinstance(state, str) else set(state)

        def shown() -> bool:
            return self._rendered_state in wanted and (run is None or self._rendered_run >= run)

        with self._state_changed:
            if not self._state_changed.wait_for(shown, timeout):
                of_run = f" in run {run}" if run is not None else ""
                raise TimeoutError(
                    f"The run panel did not show {sorted(wanted)}{of_run} within {timeout:g} s; "
                    f"it shows {self._rendered_state!r} (run {self._rendered_run})."
                )
        if self.renderer is not None:
            self.renderer.flush(timeout)
        return self._rendered_state  # type: ignore[return-value]

    def refresh(self) -> None:
        """Read the session again now and redraw (the watcher does this by itself)."""
        data: SessionData = self.session.refresh().data
        with self._lock:
            self.tracker.load_snapshot(data)
            self._render()

    def text(self) -> str:
        with self._lock:
            tracker = self.tracker
            name = self.protocol.name if self.protocol else self.session.protocol_id
            state = "deleted" if tracker.gone else (tracker.state or "unknown")
            if state == states.STOPPED:
                state += " (cancelled)" if tracker.cancelled else " (loading)"
            elif tracker.waiting_for_user() is not None:
                state += " (waiting for you)"
            robot = self._robot_status()
            if robot:
                state += f" [robot: {robot}]"
            lines = [f"RunPanel: {name} ({self.session.protocol_id})", f"  state: {state}"]
            lines.append(f"  progress: {self._progress_text()}")
            if tracker.current is not None:
                label = "current step" if tracker.run_active else "last step"
                lines.append(f"  {label}: {tracker.current}")
                note = self._step_note()
                if note:
                    lines.append(f"  step time: {note}")
            enabled = [n for n, b in self.buttons.items() if not b.disabled]
            lines.append(f"  enabled: {', '.join(enabled) if enabled else 'none'}")
            located = self._run_error()
            if located is not None:
                lines.append(f"  error: {located}")
                if located.source_line and located.source_line.strip():
                    lines.append(f"      {located.source_line.strip()}")
            if self._retired:
                lines.append(f"  ({self._retired}.)")
            return "\n".join(lines)
