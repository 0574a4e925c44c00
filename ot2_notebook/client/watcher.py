"""``SessionWatcher``: every state change of one protocol session, exactly once and in order,
from the notification feed and polling ``GET /sessions/{id}`` together.

* ``ot2-sim`` publishes each change on the ``session_events`` topic; while the feed is up the
  watcher reports those and polls only rarely (``feed_interval``) as a safety net;
* a real 4.x robot publishes no session events: the watcher then polls, fast after a change
  or :meth:`~SessionWatcher.poke`, backing off while nothing changes;
* after the socket drops and comes back, and whenever a frame does not follow on from what
  was reported, it re-reads the session with ``GET`` so no change is lost for good;
* a robot on software 5+ publishes MQTT messages that only say "read it again" (the client's
  :meth:`~ot2_notebook.client.RobotClient.session_feed` gives a
  :class:`~ot2_notebook.client.mqtt.MqttSubscriber`, ``hints_only``): each message (a burst
  of them: once) makes the watcher read the run at once, and what it reads is reported as
  polls are; after the broker connection drops and comes back it reads it again, and while
  it is down (or the robot has no broker) it polls.

Guarantees. Reported changes form one chain: each ``(previous, current)`` starts where the
last one ended (the very first is ``(None, state)``, the state found on start), and no change
is reported twice. Every change the feed delivers is reported. A change that happened while
the feed was down, or on a robot without the feed, is seen only if a poll sees it: polling
samples the state, so a state shorter than the poll interval (a 100 ms ``running`` on a real
4.x robot) is folded into the next one (``loaded -> finished``); the final state is always
reported.

This module owns the threads, the timing and the callbacks; what each frame or snapshot
adds to what was reported is decided by the pure functions of
:mod:`ot2_notebook.client.reconcile`, and the socket is a
:class:`~ot2_notebook.client.feed.NotificationSubscriber`.

Callbacks run on the watcher's own thread (one thread per watcher, so they never overlap);
UI code must marshal to its own thread. A callback that raises is logged, not propagated.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import NotFoundError, RobotError, RobotTimeoutError
from ot2_notebook.client.feed import SESSION_EVENTS, Notification, NotificationSubscriber
from ot2_notebook.client.models import SessionData, StepEvent
from ot2_notebook.client.reconcile import (
    FrameEffect,
    PollEffect,
    frame_effect,
    poll_effect,
    run_steps,
    unreported_steps,
)

__all__ = ["SessionSource", "SessionWatcher"]

log = logging.getLogger(__name__)


class SessionSource(Protocol):
    """What a watcher needs of a robot client (:class:`~ot2_notebook.client.RobotClient`
    is one): its address, a copy with its own connections, and ``GET /sessions/{id}``.

    A source may also offer ``session_feed(session_id, on_event=, on_status=,
    ping_interval=, start=)``, the feed to listen to (``None``: none, poll); without it the
    watcher subscribes to the websocket feed's ``session_events``."""

    @property
    def base_url(self) -> str: ...

    timeout: float

    def copy(self) -> SessionSource: ...

    def session_data(self, session_id: str) -> SessionData: ...

    def close(self) -> None: ...


_STOP = object()


class SessionWatcher:
    """Reports the state changes and protocol steps of one session (see the module doc).

    ``on_change(previous, current)`` is called once per state change (first with
    ``previous=None`` for the state found on start); ``on_step(StepEvent)`` for each protocol
    step of a run; ``on_error(exc)`` when the robot cannot be reached (once per outage; the
    watcher keeps trying) or the session is gone (404; the watcher then ends, ``gone`` is
    true); ``on_robot_status(data)`` when a read of the session finds the robot's own run
    status changed (robot software 5+: ``stop-requested`` -> ``stopped`` is one state,
    ``stopped``, but two statuses), after any state change it brings is reported. All run on
    the watcher's thread.

    Polling without a live feed starts every ``min_interval`` s and backs off to
    ``max_interval``; with a live feed it polls every ``feed_interval`` s, and a poll that
    disagrees with the feed is trusted only if the feed has not caught up within
    ``feed_grace`` s (the same grace decides, on the first change, whether the robot
    publishes session events at all: a 4.x robot's first change is reported that much
    later). ``use_feed=False`` polls only. Use :meth:`poke` after sending a command so a
    polling watcher looks at once. :meth:`close` (or ``with``) stops everything.

    A robot that accepts requests but answers none for up to ``busy_grace`` s is busy, not
    lost: robot software 4.x blocks its whole server while it cancels or deletes a running
    session (11-14 s recorded), so polls time out meanwhile; the watcher keeps polling and
    reports ``on_error`` only if the silence lasts longer.
    """

    def __init__(
        self,
        client: SessionSource,
        session_id: str,
        on_change: Callable[[str | None, str], None] | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        on_error: Callable[[RobotError], None] | None = None,
        on_robot_status: Callable[[SessionData], None] | None = None,
        *,
        use_feed: bool = True,
        min_interval: float = 0.1,
        max_interval: float = 1.0,
        feed_interval: float = 5.0,
        feed_grace: float = 0.5,
        ping_interval: float = 10.0,
        ready_timeout: float = 5.0,
        busy_grace: float = 60.0,
        start: bool = True,
    ) -> None:
        self.session_id = session_id
        self.ready_timeout = ready_timeout
        self.on_change = on_change
        self.on_step = on_step
        self.on_error = on_error
        self.on_robot_status = on_robot_status
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.feed_interval = feed_interval
        self.feed_grace = feed_grace
        self.busy_grace = busy_grace
        self._silent_since: float | None = None  # first poll that timed out, of a streak
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
        self._looked = False
        self._interval = min_interval
        self._next_poll = 0.0
        self._suspect_since: float | None = None
        self.subscriber: Any = None
        #: Whether the feed's messages only say "read it again" (MQTT, robot software 5+).
        self._hints = False
        self._refetch_due = False
        if use_feed:
            # the watcher's own client asks the robot which feed it has (if it must ask)
            self.subscriber = self._open_feed(self._client, session_id, ping_interval)
            self._hints = bool(getattr(self.subscriber, "hints_only", False))
        self._thread = threading.Thread(
            target=self._run, name=f"ot2-watch {session_id[:8]}", daemon=True
        )
        self._started = False
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"<SessionWatcher {self.session_id} state={self.state!r} mode={self.mode}>"

    def _open_feed(self, client: SessionSource, session_id: str, ping_interval: float) -> Any:
        def on_event(notification: Notification) -> None:
            self._queue.put(("frame", notification))

        def on_status(up: bool) -> None:
            self._queue.put(("status", up))

        factory = getattr(client, "session_feed", None)
        if factory is not None:
            return factory(
                session_id,
                on_event=on_event,
                on_status=on_status,
                ping_interval=ping_interval,
                start=False,
            )
        return NotificationSubscriber(
            client,
            [SESSION_EVENTS],
            on_event=on_event,
            on_status=on_status,
            ping_interval=ping_interval,
            start=False,
        )

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
            return self._visible

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
        return self._hints or not self._feed_connected or self._feed_publishes is False

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
                if self._refetch_due and self._queue.empty() and not self._gone:
                    # every "read it again" of a burst is served by one read
                    self._refetch_due = False
                    self._poll(trust=True)
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
            now = time.monotonic()
            if isinstance(exc, RobotTimeoutError):
                if self._silent_since is None:
                    self._silent_since = now
                if now - self._silent_since < self.busy_grace:
                    # busy (a 4.x robot blocks while it stops a run), not lost: poll again
                    log.debug("session %s: the robot is busy (%s)", self.session_id, exc)
                    self._schedule(self.min_interval)
                    return
            if self.error is None:
                self._emit_error(exc)
            self.error = exc
            self._interval = min(max(self._interval, self.min_interval) * 2, 5.0)
            self._schedule(self._interval)
            return
        self._silent_since = None
        if self.error is not None:
            self.error = None
            self._interval = self.min_interval
        before = self.snapshot
        status_changed = before is not None and before.robot_status != data.robot_status
        self.snapshot = data
        self._steps_from_snapshot(data)
        try:
            self._poll_effect(data, trust)
        finally:
            if status_changed and self.on_robot_status is not None:
                try:
                    self.on_robot_status(data)
                except Exception:
                    log.exception("on_robot_status callback failed")

    def _poll_effect(self, data: SessionData, trust: bool) -> None:
        now = time.monotonic()
        effect = poll_effect(
            self._last,
            data.state,
            trusted=trust,
            held_since=self._suspect_since,
            now=now,
            grace=self.feed_grace,
        )
        if effect is PollEffect.SAME:
            self._suspect_since = None
            self._schedule_next()
        elif effect is PollEffect.REPORT:
            self._report(self._last, data.state)
        elif effect is PollEffect.HOLD:
            self._suspect_since = now
            self._schedule(self.feed_grace)
        elif effect is PollEffect.OVERDUE:
            if self._feed_publishes is None:
                log.debug("robot publishes no session events: watching %s by polling", data.id)
                self._feed_publishes = False
            else:
                log.info("session %s: the feed missed a change; reported from polling", data.id)
            self._report(self._last, data.state)
        else:  # PollEffect.WAIT: held back since self._suspect_since
            held = self._suspect_since if self._suspect_since is not None else now
            self._schedule(held + self.feed_grace - now)

    def _on_status(self, connected: bool) -> None:
        self._feed_connected = connected
        if connected and self._hints:
            self._feed_publishes = True  # a robot with a broker publishes every change
        if connected and self._feed_publishes is True:
            # Back after a drop: what changed meanwhile was never published to us.
            self._interval = self.min_interval
            self._poll(trust=True)
        elif not connected:
            self._interval = self.min_interval
            self._schedule(self.min_interval)

    def _on_frame(self, notification: Notification) -> None:
        data = notification.data
        if self._hints:
            if data.get("refetch") or data.get("unsubscribe"):
                self._refetch_due = True
            return
        kind = data.get("type")
        if kind not in ("SessionState", "ProtocolStep"):
            return
        self._feed_publishes = True
        if data.get("sessionId") != self.session_id:
            return
        if kind == "ProtocolStep":
            self._emit_step(StepEvent.from_feed(self.session_id, data))
            return
        previous, current = data.get("previousState"), data.get("currentState")
        if not isinstance(current, str):
            return
        effect = frame_effect(self._last, previous, current)
        if effect is FrameEffect.REPORT:
            if current == states.ERROR:
                self._refresh_snapshot()  # so on_change can show the run's error
            self._report(self._last, current)
            self._schedule_next()
        elif effect is FrameEffect.RESYNC:
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
        if step.key in self._steps_seen:
            return
        self._steps_seen.add(step.key)
        if self.on_step is not None:
            try:
                self.on_step(step)
            except Exception:
                log.exception("on_step callback failed")

    def _steps_from_snapshot(self, data: SessionData) -> None:
        """Report the run's steps found in ``details.events`` that neither the feed nor an
        earlier snapshot reported (robots without the feed, and steps the feed missed)."""
        first_look = not self._looked
        self._looked = True
        found = run_steps(self.session_id, data.events)
        for step in unreported_steps(found, self._steps_seen, first_look=first_look):
            self._emit_step(step)
        self._steps_seen.update(step.key for step in found)
