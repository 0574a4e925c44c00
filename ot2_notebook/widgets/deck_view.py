"""``DeckView``: the deck drawn from its definitions, with run playback and live follow.

The drawing, the step timeline and the tables come from :mod:`ot2_notebook.deck` (plain
data and SVG); this module is the widget around them:

* the deck as two stacked SVG layers in ``HTML`` widgets: the base (slots, modules,
  labware, wells), sent once, and the state (liquid, tips, highlighted wells, names),
  redrawn for each step shown;
* a ``Play`` button and a slider (linked in the browser) that step through the timeline,
  a speed choice, the current step's text, and the time to the next step and to the end;
* live follow: given a :class:`~ot2_notebook.client.Session`, a
  :class:`~ot2_notebook.notifications.SessionWatcher` reports each step as the robot
  starts it, and the view moves with the run ("Follow live"; moving the slider stops
  following, the button resumes it). Before any run the timeline is the session's load
  simulation (the steps the robot simulated when the session was created), after a run
  the run's own steps;
* export of the deck as shown: SVG (always) and PNG (with the optional ``resvg-py``), as a
  download link in the view, or to a file with :meth:`DeckView.save_svg` and
  :meth:`DeckView.save_png`.

Threads follow :mod:`ot2_notebook.widgets.threads`: the watcher's callbacks only record
what happened, under the view's lock, and ask the view's :class:`Renderer` to redraw; the
renderer (its own thread) catches up with the robot (reading the session when steps were
missed, e.g. when the watcher polls) and sets the widgets. Nothing is printed or displayed
from a thread. A slider move by the user is drawn on the kernel's main thread.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import NotFoundError, RobotError
from ot2_notebook.client.http import Protocol, Session
from ot2_notebook.client.models import ProtocolData, SessionData
from ot2_notebook.deck import DeckLayout, DeckRenderer, DefinitionLibrary, Timeline, png_bytes
from ot2_notebook.deck.steps import select_steps
from ot2_notebook.notifications import SessionWatcher, StepEvent
from ot2_notebook.widgets.base import Panel
from ot2_notebook.widgets.style import esc, format_duration, html_block
from ot2_notebook.widgets.threads import Renderer

__all__ = ["SPEEDS", "DeckView", "show_deck"]

log = logging.getLogger("ot2_notebook.widgets")

#: Playback speeds: label -> steps per tick of the play button.
SPEEDS: dict[str, int] = {"1 step": 1, "5 steps": 5, "25 steps": 25, "100 steps": 100}

_LEGEND = (
    '<span class="ot2-deck-key ot2-key-in"></span> liquid in '
    '<span class="ot2-deck-key ot2-key-out"></span> liquid out '
    '<span class="ot2-deck-key ot2-key-tip"></span> tip on a pipette '
    '<span class="ot2-deck-key ot2-key-used"></span> tip used '
    '<span class="ot2-deck-key ot2-key-src"></span> drawn from '
    '<span class="ot2-deck-key ot2-key-dst"></span> dispensed into'
)

_VIEW_CSS = """
.ot2-deck-view .ot2-deck-canvas .widget-html-content { display: block; line-height: 0;
  width: 100%; height: auto; }
.ot2-deck-view .ot2-deck-layer-state { pointer-events: none; }
.ot2-deck-view .ot2-deck-layer-state title { pointer-events: auto; }
.ot2-deck-view .ot2-deck-key { display: inline-block; width: 0.8em; height: 0.8em;
  border-radius: 50%; vertical-align: -0.1em; margin-left: 0.6em;
  border: 1px solid var(--ot2-border); }
.ot2-deck-view .ot2-key-in { background: rgb(33, 150, 243); }
.ot2-deck-view .ot2-key-out { background: rgb(255, 152, 0); }
.ot2-deck-view .ot2-key-tip { background: rgb(76, 175, 80); }
.ot2-deck-view .ot2-key-used { background: transparent; border-style: dashed; }
.ot2-deck-view .ot2-key-src { background: transparent; border: 2px solid rgb(229, 57, 53); }
.ot2-deck-view .ot2-key-dst { background: transparent; border: 2px solid rgb(0, 172, 193); }
.ot2-deck-view .ot2-deck-legend { font-size: 0.85em; color: var(--ot2-fg-muted); }
"""


def _protocol_data(protocol: Protocol | ProtocolData | None) -> ProtocolData | None:
    if protocol is None or isinstance(protocol, ProtocolData):
        return protocol
    if isinstance(protocol, Protocol):
        return protocol.data
    raise TypeError(
        "DeckView needs a Protocol (robot.upload / robot.protocol) or its ProtocolData, "
        f"not {type(protocol).__name__}."
    )


def _raw_events(data: SessionData) -> list[Mapping[str, Any]]:
    details = data.raw.get("details") if isinstance(data.raw, Mapping) else None
    events = details.get("events") if isinstance(details, Mapping) else None
    return [e for e in events if isinstance(e, Mapping)] if isinstance(events, list) else []


class DeckView(Panel):
    """The deck with playback and live follow (see the module doc).

    ``protocol``: a :class:`~ot2_notebook.client.Protocol` or its data (fetched from
    ``session`` when not given). ``session``: the session whose steps to show and follow
    (``watch=False``: read it once, start no thread). ``timeline``: show this
    :class:`~ot2_notebook.deck.Timeline` instead. ``definitions``: custom labware
    definitions (dicts or JSON files: the labware uploaded with the protocol). ``which``:
    ``"auto"`` (the run if there is one, else the load simulation), ``"load"`` or
    ``"run"``.

    ``deck_layout`` is the :class:`~ot2_notebook.deck.DeckLayout`, ``timeline`` the
    :class:`~ot2_notebook.deck.Timeline` shown (``plan``: the load simulation's).

    Parts, for code and browser tests: ``base_view`` (class ``ot2-deck-layer-base``),
    ``state_view`` (``ot2-deck-layer-state``), ``play`` (``ot2-deck-play``), ``slider``
    (``ot2-deck-slider``), ``follow_button`` (``ot2-deck-follow``), ``speed``
    (``ot2-deck-speed``), ``step_view`` (``ot2-deck-step``), ``time_view``
    (``ot2-deck-time``), ``export_svg_button`` / ``export_png_button``
    (``ot2-deck-export-svg`` / ``-png``), ``export_view`` (``ot2-deck-export``),
    ``message_view`` (``ot2-deck-message``).
    """

    css_class = "ot2-deck-view"
    watcher: SessionWatcher | None = None
    renderer: Renderer | None = None
    _client: Any = None

    def __init__(
        self,
        protocol: Protocol | ProtocolData | None = None,
        *,
        session: Session | None = None,
        timeline: Timeline | None = None,
        definitions: Iterable[Mapping[str, Any] | str | Path] = (),
        which: str = "auto",
        watch: bool = True,
        use_feed: bool = True,
        play_interval_ms: int = 250,
        watcher_options: Mapping[str, Any] | None = None,
    ) -> None:
        if session is not None and not isinstance(session, Session):
            raise TypeError(
                f"session must be a Session (robot.create_session), not {type(session).__name__}."
            )
        if which not in ("auto", "load", "run"):
            raise ValueError(f"which must be 'auto', 'load' or 'run', not {which!r}.")
        super().__init__()
        self._lock = threading.RLock()
        self._drawn = threading.Condition(self._lock)
        self.session = session
        self.which = which
        data = _protocol_data(protocol)
        if data is None and session is not None:
            data = session.protocol().data
        if data is None and timeline is None:
            raise TypeError("DeckView needs a protocol, a session or a timeline.")
        self.protocol = data
        library = DefinitionLibrary(definitions)
        if timeline is not None:
            self.deck_layout = timeline.layout
        else:
            assert data is not None
            self.deck_layout = DeckLayout.from_protocol(data, library)
        self.renderer_svg = DeckRenderer(self.deck_layout)
        estimate = data.estimated_duration if data is not None else None
        self.timeline = timeline or Timeline(self.deck_layout, estimated_duration=estimate)
        #: The load simulation's timeline (for time estimates during a live run).
        self.plan: Timeline | None = None
        self.state: str | None = None
        self._live = False
        self._resync = False
        self._gone = False
        self._cancelled = False
        self._setting = False  # the slider is being moved by code, not by the user
        self._drawn_at: int | None = None
        self._draws = 0
        self.last_error: Exception | None = None
        self._client = session.client.copy() if session is not None else None
        self._build(play_interval_ms)
        if session is not None:
            try:
                self._load(session.refresh().data)
            except RobotError as exc:
                self._message(f"Could not read the session: {exc}", error=True)
        self._sync_controls(follow=True)
        self._draw(self.slider.value)
        if session is not None and watch and not self._over():
            self._start_threads(use_feed, dict(watcher_options or {}))

    # -- building ----------------------------------------------------------------------------

    def _build(self, interval: int) -> None:
        name = self.protocol.name if self.protocol else "deck"
        self.header = widgets.HTML(
            value=html_block(f'<div class="ot2-title">Deck: {esc(name)}</div>')
        )
        self.header.add_class("ot2-deck-header")
        self.base_view = widgets.HTML(value=self.renderer_svg.base_svg())
        self.base_view.add_class("ot2-deck-layer-base")
        self.state_view = widgets.HTML()
        self.state_view.add_class("ot2-deck-layer-state")
        for layer in (self.base_view, self.state_view):
            layer.layout = widgets.Layout(grid_area="deck", width="100%", margin="0")
        canvas = widgets.GridBox(
            [self.base_view, self.state_view],
            layout=widgets.Layout(
                grid_template_areas='"deck"',
                grid_template_columns="minmax(0, 1fr)",
                width="100%",
                max_width="720px",
            ),
        )
        canvas.add_class("ot2-deck-canvas")
        self.play = widgets.Play(
            value=0, min=0, max=0, step=1, interval=interval, description="Play", show_repeat=False
        )
        self.play.add_class("ot2-deck-play")
        self.slider = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="step",
            continuous_update=True,
            layout=widgets.Layout(width="340px"),
        )
        self.slider.add_class("ot2-deck-slider")
        self._link = widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.follow_button = widgets.ToggleButton(
            value=True,
            description="Follow live",
            icon="crosshairs",
            tooltip="Keep showing the newest step of a live run",
            layout=widgets.Layout(width="auto"),
        )
        self.follow_button.add_class("ot2-deck-follow")
        self.speed = widgets.Dropdown(
            options=list(SPEEDS.items()),
            value=1,
            description="per tick",
            layout=widgets.Layout(width="170px"),
        )
        self.speed.add_class("ot2-deck-speed")
        self.export_svg_button = widgets.Button(
            description="SVG", icon="download", tooltip="Download the deck as shown (SVG)"
        )
        self.export_svg_button.add_class("ot2-deck-export-svg")
        self.export_png_button = widgets.Button(
            description="PNG", icon="download", tooltip="Download the deck as shown (PNG)"
        )
        self.export_png_button.add_class("ot2-deck-export-png")
        for button in (self.export_svg_button, self.export_png_button):
            button.layout = widgets.Layout(width="auto")
        controls = widgets.HBox(
            [
                self.play,
                self.slider,
                self.speed,
                self.follow_button,
                self.export_svg_button,
                self.export_png_button,
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        controls.add_class("ot2-deck-controls")
        self.step_view = widgets.HTML()
        self.step_view.add_class("ot2-deck-step")
        self.time_view = widgets.HTML()
        self.time_view.add_class("ot2-deck-time")
        self.legend = widgets.HTML(value=html_block(_LEGEND, "ot2-deck-legend"))
        self.export_view = widgets.HTML()
        self.export_view.add_class("ot2-deck-export")
        self.message_view = widgets.HTML()
        self.message_view.add_class("ot2-deck-message")
        style = widgets.HTML(value=f"<style>{_VIEW_CSS}</style>")
        style.layout.display = "none"
        self.slider.observe(self._on_slider, names="value")
        self.follow_button.observe(self._on_follow, names="value")
        self.speed.observe(lambda change: setattr(self.play, "step", change["new"]), names="value")
        self.export_svg_button.on_click(lambda _b: self.export("svg"))
        self.export_png_button.on_click(lambda _b: self.export("png"))
        self._set_body(
            style,
            self.header,
            canvas,
            controls,
            self.step_view,
            self.time_view,
            self.legend,
            self.export_view,
            self.message_view,
        )
        warnings = list(self.deck_layout.warnings)
        if warnings:
            self._message("; ".join(warnings))

    # -- the session ---------------------------------------------------------------------------

    def _load(self, data: SessionData) -> None:
        """Rebuild the timelines from the session's events (under the lock)."""
        events = _raw_events(data)
        estimate = self.protocol.estimated_duration if self.protocol else None
        with self._lock:
            self.state = data.state
            self.plan = Timeline.from_events(
                self.deck_layout, events, which="load", estimated_duration=estimate
            )
            phase, _ = select_steps(events, self.which)
            if phase == "run" and self.which != "load":
                self.timeline = Timeline.from_events(
                    self.deck_layout, events, which="run", estimated_duration=estimate
                )
            else:
                self.timeline = self.plan
            self._live = self.state in (states.RUNNING, states.PAUSED) and phase == "run"
            self._resync = False
            self._note_unread()

    def _note_unread(self) -> None:
        unread = self.timeline.unread
        if unread:
            first = unread[0]
            self._message(
                f"{len(unread)} step text(s) not understood (shown, not tracked), first: "
                f"step {first[0]}: {first[1]!r}"
            )

    def _start_threads(self, use_feed: bool, options: dict[str, Any]) -> None:
        assert self.session is not None
        self.renderer = Renderer(self._render, name=f"ot2-deck {self.session.id[:8]}")
        self.watcher = SessionWatcher(
            self.session.client,
            self.session.id,
            on_change=self._on_change,
            on_step=self._on_step,
            on_error=self._on_error,
            use_feed=use_feed,
            **{**options, "start": False},
        )
        self.watcher.start()

    def _on_change(self, previous: str | None, current: str) -> None:
        with self._lock:
            following = self.which != "load"
            if (
                following
                and current == states.RUNNING
                and previous
                not in (
                    states.PAUSED,
                    states.RUNNING,
                )
            ):
                self._start_live_run()
            if current == states.STOPPED and previous in (states.RUNNING, states.PAUSED):
                self._cancelled = True
            self.state = current
            self._resync = True  # the robot's events are the reference: catch up with them
            self._request()

    def _start_live_run(self) -> None:
        estimate = self.protocol.estimated_duration if self.protocol else None
        self.timeline = Timeline(self.deck_layout, estimated_duration=estimate)
        self._live = True
        self._drawn_at = None  # what was drawn belongs to the old timeline
        self._setting = True
        try:
            self.follow_button.value = True  # a new run is news: follow it
        finally:
            self._setting = False

    def _on_step(self, step: StepEvent) -> None:
        with self._lock:
            if self.which == "load":
                return
            if not self._live:
                if self.state not in (states.RUNNING, states.PAUSED):
                    # history, not progress (a first poll reports the newest step): the
                    # session's events say the rest
                    self._resync = True
                    self._request()
                    return
                self._start_live_run()
            if step.phase == "start":
                if step.index is not None and step.index != len(self.timeline) + 1:
                    self._resync = True  # steps were missed (a poll reports the newest)
                else:
                    self.timeline.add_event(step.event, step.text, step.structured, step.command_id)
            else:
                self.timeline.add_event(step.event, None, None, step.command_id)
            self._request()

    def _on_error(self, exc: RobotError) -> None:
        with self._lock:
            if isinstance(exc, NotFoundError):
                self._gone = True
                self._message("The session was deleted on the robot; the view keeps its steps.")
            else:
                self._message(f"Lost contact with the robot (still trying): {exc}", error=True)
            self._request()

    def _request(self) -> None:
        renderer = self.renderer
        if renderer is not None:
            renderer.request()

    def _over(self) -> bool:
        """Whether the session can change no more: deleted, failed, or cancelled."""
        return self._gone or self.state == states.ERROR or self._cancelled

    # -- drawing (renderer thread) -------------------------------------------------------------

    def _render(self) -> None:
        with self._lock:
            resync = self._resync and self._client is not None and not self._gone
        if resync:
            assert self._client is not None and self.session is not None
            try:
                data = self._client.session_data(self.session.id)
            except RobotError as exc:
                log.info("deck view: could not read session %s: %s", self.session.id, exc)
            else:
                self._load(data)
        with self._lock:
            live = self._live and self.state in (states.RUNNING, states.PAUSED)
            self._sync_controls(follow=self.follow_button.value)
            if not live and self.state in (states.FINISHED, states.ERROR, states.STOPPED):
                self._live = False
            self._draw(self.slider.value, force=True)
            over = self._over() and not self._resync
        if over:  # nothing more will happen: let the threads end (the view stays)
            if self.watcher is not None:
                self.watcher.close()  # from another thread than its own: joins it
            if self.renderer is not None:
                self.renderer.finish()

    def _sync_controls(self, *, follow: bool) -> None:
        """Slider and play button range to the timeline; with ``follow``, the newest step.
        Without a session and without steps (a protocol's deck before any session) there is
        nothing to play: only the deck and the export buttons show."""
        with self._lock:
            total = len(self.timeline)
            playable = self.session is not None or total > 0
            for part in (self.play, self.slider, self.speed, self.step_view, self.time_view):
                part.layout.display = None if playable else "none"
            self.legend.layout.display = None if playable else "none"
            self.follow_button.layout.display = None if self.session is not None else "none"
            at_end = self.slider.value == self.slider.max
            self._setting = True
            try:
                if self.slider.max != total:
                    if self.slider.value > total:
                        self.slider.value = total
                    self.play.max = total
                    self.slider.max = total
                if follow and (self._live or at_end or self._drawn_at is None):
                    self.slider.value = total
            finally:
                self._setting = False

    def _on_slider(self, change: Mapping[str, Any]) -> None:
        with self._lock:
            if not self._setting and self._live and change["new"] != len(self.timeline):
                self.follow_button.value = False  # the user looks elsewhere: stop following
            self._draw(int(change["new"]))

    def _on_follow(self, change: Mapping[str, Any]) -> None:
        if change["new"] and not self._setting:
            with self._lock:
                self._sync_controls(follow=True)
                self._draw(self.slider.value)

    def _draw(self, n: int, *, force: bool = False) -> None:
        with self._lock:
            n = max(0, min(n, len(self.timeline)))
            if n == self._drawn_at and not force:
                return
            state = self.timeline.state(n)
            self.state_view.value = self.renderer_svg.state_svg(state)
            self.step_view.value = html_block(self._step_html(n))
            self.time_view.value = html_block(esc(self._time_text(n)))
            self._drawn_at = n
            self._draws += 1
            self._drawn.notify_all()

    def _step_html(self, n: int) -> str:
        total = len(self.timeline)
        source = self._source_label()
        if n == 0:
            return (
                f'<b>Before the first step</b> <span class="ot2-muted">({total} steps, '
                f"{esc(source)})</span>"
            )
        step = self.timeline.step(n)
        depth = "· " * step.depth
        return (
            f"<b>Step {n} of {total}</b> "
            f'<span class="ot2-muted">({esc(source)})</span>: {esc(depth)}{esc(step.text)}'
        )

    def _source_label(self) -> str:
        if self.session is None and len(self.timeline) == 0:
            return "deck only"
        if self._live:
            return "live run" if self.state != states.PAUSED else "live run, paused"
        if self.timeline.phase == "load":
            return "load simulation"
        return "run"

    def _time_text(self, n: int) -> str:
        timeline = self.timeline
        reference = timeline
        plan = self.plan
        if self._live and plan is not None and len(plan) >= max(n, 1):
            reference = plan  # the analysis knows the steps still to come
        total = len(reference)
        if total == 0:
            return ""
        if n == 0:
            return f"estimated run time {format_duration(reference.total_seconds)}"
        if n >= total and not self._live:
            return f"end of the steps (about {format_duration(reference.total_seconds)} in all)"
        n = min(n, total)
        return (
            f"next step in about {format_duration(reference.step_seconds(n))} · "
            f"about {format_duration(reference.remaining_seconds(n))} to the end"
        )

    def _message(self, text: str, *, error: bool = False) -> None:
        box = "ot2-error-box" if error else "ot2-info-box"
        self.message_view.value = html_block(f'<div class="{box}">{esc(text)}</div>')

    # -- public ------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The step shown (0: the deck before the first step)."""
        return int(self.slider.value)

    def show_step(self, n: int) -> None:
        """Show the deck after step ``n`` (stops following a live run)."""
        with self._lock:
            if not 0 <= n <= len(self.timeline):
                raise IndexError(f"step {n} is out of range: 0 to {len(self.timeline)}.")
            self.follow_button.value = False
            self.slider.value = n
            self._draw(n)

    def svg(self, n: int | None = None, *, theme: str = "light") -> str:
        """The deck after step ``n`` (default: the step shown) as one SVG document, with
        the step under it; fixed colours (``theme="dark"`` or ``"jupyter"`` for others)."""
        with self._lock:
            n = min(self.position, len(self.timeline)) if n is None else n
            state = self.timeline.state(n)
            name = self.protocol.name if self.protocol else "deck"
            caption = f"{name} · step {n} of {len(self.timeline)}"
            if state.current is not None:
                caption += f": {state.current.text}"
            return self.renderer_svg.svg(state, caption=caption, theme=theme)

    def png(self, n: int | None = None, *, scale: float = 2.0) -> bytes:
        """The deck after step ``n`` as PNG (needs the ``resvg-py`` package)."""
        return png_bytes(self.svg(n), scale=scale)

    def save_svg(self, path: str | Path, n: int | None = None) -> Path:
        target = Path(path)
        target.write_text(self.svg(n), encoding="utf-8")
        return target

    def save_png(self, path: str | Path, n: int | None = None, *, scale: float = 2.0) -> Path:
        target = Path(path)
        target.write_bytes(self.png(n, scale=scale))
        return target

    def export(self, kind: str = "svg") -> str:
        """Put a download link for the deck as shown into the view; returns the file name."""
        if kind not in ("svg", "png"):
            raise ValueError(f"kind must be 'svg' or 'png', not {kind!r}.")
        base = (self.protocol.id if self.protocol else "deck") or "deck"
        name = f"{base}-step-{self.position}.{kind}"
        try:
            if kind == "svg":
                payload, mime = self.svg().encode("utf-8"), "image/svg+xml"
            else:
                payload, mime = self.png(), "image/png"
        except RuntimeError as exc:  # PNG without resvg-py: say what to install
            self.last_error = exc
            self._message(str(exc), error=True)
            return ""
        href = f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"
        self.export_view.value = html_block(
            f'<a download="{esc(name)}" href="{href}">Download {esc(name)}</a> '
            f'<span class="ot2-muted">({len(payload) / 1024:.0f} kB)</span>'
        )
        return name

    def wait_for_step(self, n: int, timeout: float = 60.0) -> int:
        """Block until the view shows step ``n`` or later of a run (live, or the run's own
        steps once it is over; not the load simulation's); returns the step shown."""

        def shown() -> bool:
            run = self._live or self.timeline.phase == "run"
            return run and self._drawn_at is not None and self._drawn_at >= n

        with self._drawn:
            ok = self._drawn.wait_for(shown, timeout)
            if not ok:
                hint = "" if self.follow_button.value else " ('Follow live' is off)"
                raise TimeoutError(
                    f"The deck view did not show step {n} of a run within {timeout:g} s "
                    f"(it shows step {self._drawn_at} of {len(self.timeline)}){hint}."
                )
            return int(self._drawn_at or 0)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until everything reported so far is drawn (before reading the view)."""
        if self.renderer is not None and not self.renderer.flush(timeout):
            raise TimeoutError(f"The deck view did not catch up within {timeout:g} s.")

    @property
    def threads(self) -> list[threading.Thread]:
        found = []
        if self.watcher is not None:
            found.append(self.watcher.thread)
            if self.watcher.subscriber is not None and self.watcher.subscriber.thread is not None:
                found.append(self.watcher.subscriber.thread)
        if self.renderer is not None:
            found.append(self.renderer.thread)
        return [t for t in found if t.is_alive()]

    def stop(self, timeout: float = 15.0) -> None:
        """Stop following the session (the view keeps what it shows)."""
        if self.watcher is not None:
            self.watcher.close(timeout)
        if self.renderer is not None:
            self.renderer.close(timeout)

    def close(self, timeout: float = 15.0) -> None:
        """Stop the threads, then close the widgets."""
        self.stop(timeout)
        if self._client is not None:
            self._client.close()
        link = getattr(self, "_link", None)
        if link is not None:
            link.close()
        super().close()

    def text(self) -> str:
        with self._lock:
            name = self.protocol.name if self.protocol else "deck"
            n = min(self.position, len(self.timeline))
            lines = [f"DeckView: {name} ({self._source_label()}, step {n} of {len(self.timeline)})"]
            state = self.timeline.state(n)
            if state.current is not None:
                lines.append(f"  step {n}: {state.current.text}")
            for row in self.timeline.summary(n).to_dict("records"):
                if row["kind"] == "tip rack":
                    detail = f"{row['tips_used']} of {row['wells']} tips used"
                elif row["wells_touched"]:
                    detail = (
                        f"{row['wells_touched']} wells: {float(row['added']):g} µL in, "
                        f"{float(row['removed']):g} µL out"
                    )
                else:
                    detail = "untouched"
                lines.append(f"  slot {row['slot']}: {row['labware']}: {detail}")
            for module in self.deck_layout.unique_modules():
                slots = ", ".join(str(s) for s in module.slots)
                lines.append(f"  module: {module.display_name} (slots {slots})")
            return "\n".join(lines)


def show_deck(
    protocol: Protocol | ProtocolData | None = None,
    *,
    session: Session | None = None,
    display: bool = True,
    **options: Any,
) -> DeckView:
    """Build a :class:`DeckView`, display it (unless ``display=False``), return it."""
    view = DeckView(protocol, session=session, **options)
    if display:
        from IPython.display import display as show

        show(view)
    return view
