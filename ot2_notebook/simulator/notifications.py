"""The notification feed: topics, subscribers, and frames in the robot's format.

A frame is ``{"topic": T, "event": {"createdOn": ISO, "publisher": str, "data": {...}}}``,
as the 4.x robot's notify-server relays it (recording 14). ``publish`` may be called from
any thread (session runners live in threads); frames reach each subscriber's asyncio
queue in publication order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

HARDWARE_EVENTS = "hardware_events"
SESSION_EVENTS = "session_events"
PUBLISHER = "ot2_notebook.simulator"

#: A subscriber that falls this far behind is dropped (its socket closed); the client
#: resyncs by polling, which is what a client must do after any disconnect anyway.
MAX_BACKLOG = 10_000


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(eq=False)
class Subscriber:
    topics: frozenset[str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    dropped: bool = False

    def offer(self, frame: dict[str, Any]) -> None:
        """Runs on the subscriber's loop."""
        if self.dropped:
            return
        if self.queue.qsize() >= MAX_BACKLOG:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)


class NotificationHub:
    def __init__(self, *, session_events: bool = True) -> None:
        self.session_events_enabled = session_events
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

    def subscribe(self, topics: Iterable[str]) -> Subscriber:
        subscriber = Subscriber(frozenset(topics), asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        if topic == SESSION_EVENTS and not self.session_events_enabled:
            return
        frame = {
            "topic": topic,
            "event": {"createdOn": now_iso(), "publisher": PUBLISHER, "data": data},
        }
        with self._lock:
            targets = [s for s in self._subscribers if topic in s.topics]
        for subscriber in targets:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.offer, frame)
            except RuntimeError:  # its loop is closed: the server is shutting down
                pass

    def close_all(self) -> None:
        """Ask every subscriber's socket to close (server shutdown)."""
        with self._lock:
            targets = list(self._subscribers)
        for subscriber in targets:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, None)
            except RuntimeError:
                pass
