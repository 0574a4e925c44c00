"""What every live subscription to a robot's notifications shares, whatever carries them.

The websocket feed of robot software 4.x (:class:`~ot2_notebook.client.feed.NotificationSubscriber`)
and the MQTT broker of 5+ (:class:`~ot2_notebook.client.mqtt.MqttSubscriber`) differ in how
they connect and what a message is; to their users (the watcher, the panels) they are the
same: listeners for notifications and for the connection's status, called on the
subscription's own thread and isolated from each other's failures, and the events that say
whether it is connected, closed, or has made its first attempt. This base holds that part;
a subclass connects (:meth:`start`), disconnects (:meth:`close`), and hands what arrives to
:meth:`_publish` and :meth:`_set_connected`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ot2_notebook.client.models import parse_timestamp

log = logging.getLogger(__name__)

_S = TypeVar("_S", bound="Subscription")


@dataclass(frozen=True)
class Notification:
    """One notification: a frame of 4.x's websocket feed (:meth:`parse`), or an MQTT message
    of 5+ (``data`` empty: those only say "read it again")."""

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


class Subscription:
    """Listeners and connection events of one subscription to ``topics``."""

    #: Names the subscription in log messages ("notification feed", "MQTT").
    kind = "subscription"

    def __init__(
        self,
        topics: Iterable[str],
        on_event: Callable[[Notification], None] | None,
        on_status: Callable[[bool], None] | None,
        *,
        example_topic: str,
    ) -> None:
        self.topics = tuple(topics)
        if not self.topics:
            raise ValueError(f"Subscribe to at least one topic (e.g. {example_topic!r}).")
        self._listeners: list[Callable[[Notification], None]] = [on_event] if on_event else []
        self._status_listeners: list[Callable[[bool], None]] = [on_status] if on_status else []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._attempted = threading.Event()
        #: How many times the subscription was established (1 after the first).
        self.connect_count = 0

    def start(self: _S) -> _S:
        """Connect in the background (idempotent); returns ``self``."""
        raise NotImplementedError

    def close(self, timeout: float | None = None) -> bool:
        """Disconnect and end the subscription's thread; returns whether it ended."""
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """Whether the subscription is in place now."""
        return self._connected.is_set()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def add_listener(self, callback: Callable[[Notification], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Notification], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the subscription is in place (or ``timeout``); returns whether it is."""
        return self._connected.wait(timeout)

    def wait_first_attempt(self, timeout: float | None = None) -> bool:
        """Block until the first connection attempt succeeded or failed (or ``timeout``)."""
        return self._attempted.wait(timeout)

    def _publish(self, notification: Notification) -> None:
        """Hand ``notification`` to every listener; one that fails does not stop the others."""
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback(notification)
            except Exception:
                log.exception("%s callback %r failed", self.kind, callback)

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
                log.exception("%s status callback %r failed", self.kind, callback)
