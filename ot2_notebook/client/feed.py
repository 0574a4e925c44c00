"""The robot's notification feed: one websocket subscription, in a daemon thread.

:class:`NotificationSubscriber` holds one websocket to
``ws://HOST:PORT/notifications/subscribe?topic=...``, delivers every frame
``{"topic", "event": {"createdOn", "publisher", "data"}}`` to callbacks as a
:class:`Notification`, reports when the socket comes up or goes down, and reconnects with
back-off until :meth:`~NotificationSubscriber.close`. What the frames mean for a session is
the :class:`~ot2_notebook.client.watcher.SessionWatcher`'s business, not this module's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import websocket

from ot2_notebook.client.subscription import Notification, Subscription
from ot2_notebook.client.urls import notifications_url

__all__ = [
    "HARDWARE_EVENTS",
    "SESSION_EVENTS",
    "HasBaseUrl",
    "Notification",
    "NotificationSubscriber",
]

log = logging.getLogger(__name__)

#: The simulator's topic of session state changes and protocol steps (SPEC §4).
SESSION_EVENTS = "session_events"
#: The robot's hardware topic (door open/closed), on real robots too.
HARDWARE_EVENTS = "hardware_events"


class HasBaseUrl(Protocol):
    """A robot client (:class:`~ot2_notebook.client.RobotClient` is one)."""

    @property
    def base_url(self) -> str: ...


def _feed_url(robot: HasBaseUrl | str, topics: Sequence[str]) -> str:
    if isinstance(robot, str):
        if robot.startswith(("ws://", "wss://")):
            return robot
        return notifications_url(robot, topics)
    return notifications_url(robot.base_url, topics)


class NotificationSubscriber(Subscription):
    """A websocket subscription to the robot's notification feed, in a daemon thread.

    ``robot`` is a :class:`~ot2_notebook.client.RobotClient`, the robot's HTTP URL, or a
    full ``ws://`` URL.
    ``on_event(notification)`` gets every well-formed frame; ``on_status(connected)`` is
    called when the socket comes up or goes down. Both run on the subscriber's thread.

    The thread reconnects after any failure, waiting ``min_backoff`` doubling up to
    ``max_backoff`` seconds. Every ``ping_interval`` seconds of silence it pings the robot and
    drops the connection if nothing came back within another interval (a dead network does
    not close a TCP socket by itself). :meth:`close` (or leaving the ``with`` block) stops it,
    closing the socket and joining the thread.
    """

    kind = "notification feed"

    def __init__(
        self,
        robot: HasBaseUrl | str,
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
        super().__init__(topics, on_event, on_status, example_topic="session_events")
        self.url = _feed_url(robot, self.topics)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None
        #: The last connection failure, for diagnostics.
        self.last_error: BaseException | None = None
        if start:
            self.start()

    def __repr__(self) -> str:
        status = "connected" if self.connected else ("closed" if self.closed else "connecting")
        return f"<NotificationSubscriber {self.url} {status}>"

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> NotificationSubscriber:
        """Start the thread (idempotent); returns ``self``."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"ot2-feed {self.url}", daemon=True
                )
                self._thread.start()
        return self

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
        self._publish(notification)
