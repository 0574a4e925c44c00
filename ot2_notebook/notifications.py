"""The robot's notification feed, and a watcher that reports a session's state changes.

:class:`NotificationSubscriber` holds one websocket to
``ws://HOST:PORT/notifications/subscribe?topic=...`` in a daemon thread, delivers every
frame ``{"topic", "event": {"createdOn", "publisher", "data"}}`` to callbacks as a
:class:`Notification`, and reconnects with back-off until :meth:`~NotificationSubscriber.close`.

:class:`SessionWatcher` reports every state change of one protocol session, exactly once and
in order, combining that feed with polling ``GET /sessions/{id}``:

* ``ot2-sim`` publishes each change on the ``session_events`` topic; while the feed is up the
  watcher reports those and polls only rarely (``feed_interval``) as a safety net;
* a real 4.x robot publishes no session events: the watcher then polls, fast after a change
  or :meth:`~SessionWatcher.poke`, backing off while nothing changes;
* after the socket drops and comes back, and whenever a frame does not follow on from what
  was reported, it re-reads the session with ``GET`` so no change is lost for good.

Guarantees. Reported changes form one chain: each ``(previous, current)`` starts where the
last one ended (the very first is ``(None, state)``, the state found on start), and no change
is reported twice. Every change the feed delivers is reported. A change that happened while
the feed was down, or on a robot without the feed, is seen only if a poll sees it: polling
samples the state, so a state shorter than the poll interval (a 100 ms ``running`` on a real
4.x robot) is folded into the next one (``loaded -> finished``); the final state is always
reported.

Callbacks run on the watcher's own thread (one thread per watcher, so they never overlap);
UI code must marshal to its own thread. A callback that raises is logged, not propagated.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import websocket

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import NotFoundError, RobotError
from ot2_notebook.client.http import RobotClient, notifications_url
from ot2_notebook.client.models import SessionData, parse_timestamp

__all__ = [
    "HARDWARE_EVENTS",
    "SESSION_EVENTS",
    "Notification",
    "NotificationSubscriber",
    "SessionWatcher",
    "StepEvent",
]

log = logging.getLogger(__name__)

SESSION_EVENTS = "session_events"
HARDWARE_EVENTS = "hardware_events"


@dataclass(frozen=True)
class Notification:
    """One frame of the feed."""

    topic: str
    created_on: datetime | None
    publisher: str
    data: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def parse(cls, text: str | bytes) -> Notification | None:
        """The notification in a frame, or ``None`` if the frame is not one."""
        try:
            payload = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, Mapping) or not isinstance(payload.get("topic"), str):
            return None
        event = payload.get("event")
        if not isinstance(event, Mapping):
            return None
        data = event.get("data")
        return cls(
            topic=payload["topic"],
            created_on=parse_timestamp(event.get("createdOn")),
            publisher=str(event.get("publisher") or ""),
            data=dict(data) if isinstance(data, Mapping) else {},
            raw=dict(payload),
        )


@dataclass(frozen=True)
class StepEvent:
    """A protocol step starting or ending in a run: ``index`` of ``total`` steps (either may
    be ``None`` when unknown), ``text`` as the robot describes it."""

    session_id: str
    command_id: str | None
    event: str
    text: str | None
    index: int | None
    total: int | None

    @property
    def phase(self) -> str:
        """``"start"`` or ``"end"``."""
        return self.event.rsplit(".", 1)[-1]

    @property
    def step_name(self) -> str:
        """``command.ASPIRATE.start`` -> ``ASPIRATE``."""
        parts = self.event.split(".")
        return parts[1] if len(parts) == 3 and parts[0] == "command" else self.event


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _feed_url(robot: RobotClient | str, topics: Sequence[str]) -> str:
    if isinstance(robot, str) and robot.startswith(("ws://", "wss://")):
        return robot
    return notifications_url(robot.base_url if isinstance(robot, RobotClient) else robot, topics)


class NotificationSubscriber:
    """A websocket subscription to the robot's notification feed, in a daemon thread.

    ``robot`` is a :class:`RobotClient`, the robot's HTTP URL, or a full ``ws://`` URL.
    ``on_event(notification)`` gets every well-formed frame; ``on_status(connected)`` is
    called when the socket comes up or goes down. Both run on the subscriber's thread.

    The thread reconnects after any failure, waiting ``min_backoff`` doubling up to
    ``max_backoff`` seconds. Every ``ping_interval`` seconds of silence it pings the robot and
    drops the connection if nothing came back within another interval (a dead network does
    not close a TCP socket by itself). :meth:`close` (or leaving the ``with`` block) stops it,
    closing the socket and joining the thread.
    """

    def __init__(
        self,
        robot: RobotClient | str,
        topics: Iterable[str],
        on_event: Callable[[Notification], None] | None = None,
        on_status: Callable[[bool], None] | None = None,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        connect_timeout: float = 5.0,
        ping_interval: float = 10.0,
        start: bool = True,
    ) -> None:
        self.topics = tuple(topics)
        if not self.topics:
            raise ValueError("Subscribe to at least one topic (e.g. 'session_events').")
        self.url = _feed_url(robot, self.topics)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self._listeners: list[Callable[[Notification], None]] = [on_event] if on_event else []
        self._status_listeners: list[Callable[[bool], None]] = [on_status] if on_status else []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._attempted = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None
        #: How many times a connection was established (1 after the first connect).
        self.connect_count = 0
        #: The last connection failure, for diagnostics.
        self.last_error: BaseException | None = None
        if start:
            self.start()

    def __repr__(self) -> str:
        status = "connected" if self.connected else ("closed" if self.closed else "connecting")
        return f"<NotificationSubscriber {self.url} {status}>"

    def __enter__(self) -> NotificationSubscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def add_listener(self, callback: Callable[[Notification], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Notification], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def start(self) -> NotificationSubscriber:
        """Start the thread (idempotent); returns ``self``."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"ot2-feed {self.url}", daemon=True
                )
                self._thread.start()
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the socket is up (or ``timeout``); returns whether it is."""
        return self._connected.wait(timeout)

    def wait_first_attempt(self, timeout: float | None = None) -> bool:
        """Block until the first connection attempt succeeded or failed (or ``timeout``)."""
        return self._attempted.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Stop: close the socket and join the thread (at most ``timeout`` s, by default long
        enough for a connection attempt to time out). Returns whether the thread ended."""
        self._stop.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            ws.abort()  # wakes the thread blocked in recv
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(self.connect_timeout + 2.0 if timeout is None else timeout)
        return not thread.is_alive()

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.min_backoff
        while not self._stop.is_set():
            ws = websocket.WebSocket(enable_multithread=True)
            with self._lock:
                self._ws = ws
            try:
                if self._stop.is_set():
                    break
                ws.connect(self.url, timeout=self.connect_timeout, suppress_origin=True)
                self.connect_count += 1
                delay = self.min_backoff
                self._set_connected(True)
                self._attempted.set()
                self._receive(ws)
            except (websocket.WebSocketException, OSError) as exc:
                if not self._stop.is_set():
                    self.last_error = exc
                    log.debug("notification feed %s: %s", self.url, exc)
                self._attempted.set()
            finally:
                with self._lock:
                    self._ws = None
                try:
                    ws.close(timeout=0.5)
                except (websocket.WebSocketException, OSError):
                    pass
                ws.shutdown()
                if self._connected.is_set():
                    self._set_connected(False)
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.max_backoff)
        self._attempted.set()

    def _receive(self, ws: websocket.WebSocket) -> None:
        ws.settimeout(self.ping_interval)
        awaiting_pong = False
        while not self._stop.is_set():
            try:
                opcode, frame = ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                if awaiting_pong:
                    raise websocket.WebSocketConnectionClosedException(
                        "no answer to a ping: the connection is dead"
                    ) from None
                ws.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._deliver(frame.data)

    def _deliver(self, data: str | bytes) -> None:
        notification = Notification.parse(data)
        if notification is None:
            log.warning("notification feed %s: ignoring a malformed frame %.200r", self.url, data)
            return
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback(notification)
            except Exception:
                log.exception("notification callback %r failed", callback)

    def _set_connected(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        with self._lock:
            listeners = list(self._status_listeners)
        for callback in listeners:
            try:
                callback(connected)
            except Exception:
                log.exception("notification status callback %r failed", callback)


_STOP = object()


class SessionWatcher:
    """Reports the state changes and protocol steps of one session (see the module doc).

    ``on_change(previous, current)`` is called once per state change (first with
    ``previous=None`` for the state found on start); ``on_step(StepEvent)`` for each protocol
    step of a run; ``on_error(exc)`` when the robot cannot be reached (once per outage; the
    watcher keeps trying) or the session is gone (404; the watcher then ends, ``gone`` is
    true). All run on the watcher's thread.

    Polling without a live feed starts every ``min_interval`` s and backs off to
    ``max_interval``; with a live feed it polls every ``feed_interval`` s, and a poll that
    disagrees with the feed is trusted only if the feed has not caught up within
    ``feed_grace`` s (the same grace decides, on the first change, whether the robot
    publishes session events at all: a 4.x robot's first change is reported that much
    later). ``use_feed=False`` polls only. Use :meth:`poke` after sending a command so a
    polling watcher looks at once. :meth:`close` (or ``with``) stops everything.
    """

    def __init__(
        self,
        client: RobotClient,
        session_id: str,
        on_change: Callable[[str | None, str], None] | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        on_error: Callable[[RobotError], None] | None = None,
        *,
        use_feed: bool = True,
        min_interval: float = 0.1,
        max_interval: float = 1.0,
        feed_interval: float = 5.0,
        feed_grace: float = 0.5,
        ping_interval: float = 10.0,
        ready_timeout: float = 5.0,
        start: bool = True,
    ) -> None:
        self.session_id = session_id
        self.ready_timeout = ready_timeout
        self.on_change = on_change
        self.on_step = on_step
        self.on_error = on_error
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.feed_interval = feed_interval
        self.feed_grace = feed_grace
        # Own connections: requests sessions are not meant to be shared between threads.
        self._client = client.copy()
        self._client.timeout = min(client.timeout, 10.0)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._transitions: list[tuple[str | None, str]] = []
        self._last: str | None = None  # the watcher thread's view
        self._visible: str | None = None  # what waiters and `state` see (after callbacks)
        self._gone = False
        self.snapshot: SessionData | None = None
        #: The last failure to reach the robot (``None`` once it answers again).
        self.error: RobotError | None = None
        self._feed_connected = False
        # Whether the robot publishes session events: unknown until a frame shows it does
        # (ot2-sim), or a change is seen by polling that no frame announced (a 4.x robot).
        self._feed_publishes: bool | None = None
        self._polled = threading.Event()
        self._steps_seen: set[tuple[str | None, str]] = set()
        self._step_index: dict[str | None, int] = {}
        self._run_marker: str | None = None
        self._looked = False
        self._interval = min_interval
        self._next_poll = 0.0
        self._suspect_since: float | None = None
        self.subscriber: NotificationSubscriber | None = None
        if use_feed:
            self.subscriber = NotificationSubscriber(
                client,
                [SESSION_EVENTS],
                on_event=lambda n: self._queue.put(("frame", n)),
                on_status=lambda up: self._queue.put(("status", up)),
                ping_interval=ping_interval,
                start=False,
            )
        self._thread = threading.Thread(
            target=self._run, name=f"ot2-watch {session_id[:8]}", daemon=True
        )
        self._started = False
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"<SessionWatcher {self.session_id} state={self.state!r} mode={self.mode}>"

    def __enter__(self) -> SessionWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public --------------------------------------------------------------------------

    @property
    def state(self) -> str | None:
        """The last reported state."""
        return self._visible

    @property
    def transitions(self) -> list[tuple[str | None, str]]:
        """Every ``(previous, current)`` reported so far, in order."""
        with self._cond:
            return list(self._transitions)

    @property
    def gone(self) -> bool:
        """Whether the session was found deleted (the watcher has then stopped)."""
        return self._gone

    @property
    def mode(self) -> str:
        """``"feed"`` while session events arrive over a live socket, else ``"polling"``."""
        return "feed" if self._feed_live else "polling"

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> SessionWatcher:
        """Start watching; returns once the initial state is known and the feed subscribed
        (at most ``ready_timeout`` s), so a run started right after is seen from its start."""
        if not self._started:
            self._started = True
            deadline = time.monotonic() + self.ready_timeout
            if self.subscriber is not None:
                self.subscriber.start()
            self._thread.start()
            self._polled.wait(self.ready_timeout)
            if self.subscriber is not None:
                self.subscriber.wait_first_attempt(max(0.0, deadline - time.monotonic()))
        return self

    def poke(self) -> None:
        """Look at the session now (call after sending a command)."""
        self._queue.put(("poke", None))

    def wait_for(self, state: str | Iterable[str], timeout: float = 60.0) -> str:
        """Block until the reported state is ``state`` (or one of several); returns it.

        Raises :class:`TimeoutError` naming the state it is in after ``timeout`` s.
        """
        wanted = {state} if isinstance(state, str) else set(state)
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._visible in wanted or self._gone or self._stop.is_set(), timeout
            ):
                raise TimeoutError(
                    f"Session {self.session_id} did not reach {sorted(wanted)} within "
                    f"{timeout:g} s: the watcher last saw {self._visible!r}."
                )
            if self._visible not in wanted:
                reason = "was deleted" if self._gone else "is no longer watched"
                raise RuntimeError(f"Session {self.session_id} {reason} (state {self._visible!r}).")
            return self._visible  # type: ignore[return-value]

    def close(self, timeout: float = 15.0) -> bool:
        """Stop watching: the feed's socket and thread, the HTTP connections, the watcher's
        thread. Idempotent; returns whether every thread ended within ``timeout``."""
        self._stop.set()
        self._queue.put((_STOP, None))
        with self._cond:
            self._cond.notify_all()
        if self.subscriber is not None:
            self.subscriber.close(timeout)
        if not self._started:
            self._client.close()
            return True
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        ended = not self._thread.is_alive()
        if self.subscriber is not None and self.subscriber.thread is not None:
            ended = ended and not self.subscriber.thread.is_alive()
        return ended

    # -- the thread ------------------------------------------------------------------------

    @property
    def _feed_live(self) -> bool:
        return self._feed_connected and self._feed_publishes is True

    @property
    def _trust_polls(self) -> bool:
        """Report what polls see at once, unless a connected feed may yet announce it."""
        return not self._feed_connected or self._feed_publishes is False

    def _run(self) -> None:
        try:
            self._poll(trust=True)
            self._polled.set()
            while not self._stop.is_set() and not self._gone:
                wait = max(0.0, self._next_poll - time.monotonic())
                try:
                    kind, payload = self._queue.get(timeout=wait)
                except queue.Empty:
                    self._poll(trust=self._trust_polls)
                    continue
                if kind is _STOP:
                    break
                if kind == "frame":
                    self._on_frame(payload)
                elif kind == "status":
                    self._on_status(payload)
                elif kind == "poke":
                    self._interval = self.min_interval
                    self._poll(trust=self._trust_polls)
        except Exception:  # a bug here must not leave a silent dead watcher
            log.exception("session watcher for %s failed", self.session_id)
        finally:
            self._polled.set()
            if self.subscriber is not None:
                self.subscriber.close()
            self._client.close()
            with self._cond:
                self._cond.notify_all()

    def _schedule(self, delay: float) -> None:
        self._next_poll = time.monotonic() + delay

    def _schedule_next(self) -> None:
        if self._feed_live:
            self._schedule(self.feed_interval)
        else:
            self._schedule(self._interval)
            self._interval = min(self._interval * 1.5, self.max_interval)

    def _poll(self, *, trust: bool) -> None:
        """GET the session; report its state if it differs from the last reported one.

        ``trust=False`` (a routine poll while the feed is live): a difference may just be a
        frame still on its way, so it is reported only if it persists ``feed_grace`` s.
        """
        try:
            data = self._client.session_data(self.session_id)
        except NotFoundError as exc:
            self._gone = True
            self._emit_error(exc)
            return
        except RobotError as exc:
            if self.error is None:
                self._emit_error(exc)
            self.error = exc
            self._interval = min(max(self._interval, self.min_interval) * 2, 5.0)
            self._schedule(self._interval)
            return
        if self.error is not None:
            self.error = None
            self._interval = self.min_interval
        self.snapshot = data
        self._steps_from_snapshot(data)
        if data.state == self._last:
            self._suspect_since = None
            self._schedule_next()
            return
        now = time.monotonic()
        if trust or self._last is None:
            self._report(self._last, data.state)
        elif self._suspect_since is None:
            self._suspect_since = now
            self._schedule(self.feed_grace)
        elif now - self._suspect_since >= self.feed_grace:
            if self._feed_publishes is None:
                log.debug("robot publishes no session events: watching %s by polling", data.id)
                self._feed_publishes = False
            else:
                log.info("session %s: the feed missed a change; reported from polling", data.id)
            self._report(self._last, data.state)
        else:
            self._schedule(self._suspect_since + self.feed_grace - now)

    def _on_status(self, connected: bool) -> None:
        self._feed_connected = connected
        if connected and self._feed_publishes is True:
            # Back after a drop: what changed meanwhile was never published to us.
            self._interval = self.min_interval
            self._poll(trust=True)
        elif not connected:
            self._interval = self.min_interval
            self._schedule(self.min_interval)

    def _on_frame(self, notification: Notification) -> None:
        data = notification.data
        kind = data.get("type")
        if kind not in ("SessionState", "ProtocolStep"):
            return
        self._feed_publishes = True
        if data.get("sessionId") != self.session_id:
            return
        if kind == "ProtocolStep":
            command_id = data.get("commandId")
            self._emit_step(
                StepEvent(
                    session_id=self.session_id,
                    command_id=str(command_id) if command_id is not None else None,
                    event=str(data.get("event") or ""),
                    text=data.get("text") if isinstance(data.get("text"), str) else None,
                    index=_int_or_none(data.get("index")),
                    total=_int_or_none(data.get("total")),
                )
            )
            return
        previous, current = data.get("previousState"), data.get("currentState")
        if not isinstance(current, str) or current == self._last:
            return  # already reported (a poll saw it first)
        if previous == self._last:
            if current == states.ERROR:
                self._refresh_snapshot()  # so on_change can show the run's error
            self._report(previous, current)
            self._schedule_next()
        else:
            # The frame does not follow on from what was reported: frames were missed, or
            # this one is older than a poll. The robot's current state settles it.
            self._poll(trust=True)

    def _refresh_snapshot(self) -> None:
        try:
            self.snapshot = self._client.session_data(self.session_id)
        except RobotError:
            pass

    def _report(self, previous: str | None, current: str) -> None:
        self._last = current
        self._suspect_since = None
        self._interval = self.min_interval
        self._schedule_next()
        if self.on_change is not None:
            try:
                self.on_change(previous, current)
            except Exception:
                log.exception("on_change callback failed")
        # Published to waiters after the callback, so a waiter woken by wait_for() finds
        # the callback's effects in place.
        with self._cond:
            self._transitions.append((previous, current))
            self._visible = current
            self._cond.notify_all()

    def _emit_error(self, exc: RobotError) -> None:
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                log.exception("on_error callback failed")

    def _emit_step(self, step: StepEvent) -> None:
        key = (step.command_id, step.event)
        if key in self._steps_seen:
            return
        self._steps_seen.add(key)
        if self.on_step is not None:
            try:
                self.on_step(step)
            except Exception:
                log.exception("on_step callback failed")

    def _steps_from_snapshot(self, data: SessionData) -> None:
        """Report the run's steps found in ``details.events`` (robots without the feed, and
        steps the feed missed). ``total`` is the number of steps of the load-time simulation;
        ``index`` counts the run's steps from 1. On the first look only the newest step is
        reported: the rest is history, not progress."""
        first_look = not self._looked
        self._looked = True
        events = data.events
        run_start = None
        first_command = None
        for i, event in enumerate(events):
            if event.source == "sessionCommand":
                if first_command is None:
                    first_command = i
                if event.event == states.START_RUN:
                    run_start = i
        if run_start is None:
            return
        marker = events[run_start].command_id
        if marker != self._run_marker:
            self._run_marker = marker
            self._step_index = {}
        load_events = events[:first_command] if first_command is not None else events
        total = sum(1 for e in load_events if e.is_step_start) or None
        found: list[StepEvent] = []
        texts: dict[str | None, str | None] = {}
        for event in events[run_start + 1 :]:
            if event.source != "protocol":
                continue
            index = self._step_index.setdefault(event.command_id, len(self._step_index) + 1)
            text = texts.setdefault(event.command_id, event.text)  # ends repeat their start's
            found.append(
                StepEvent(self.session_id, event.command_id, event.event, text, index, total)
            )
        if first_look and found:
            for step in found[:-1]:
                self._steps_seen.add((step.command_id, step.event))
        for step in found:
            self._emit_step(step)
