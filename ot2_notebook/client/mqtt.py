"""A robot's MQTT notifications (robot software 5+): one subscription, in paho's own thread.

Robot software 5+ publishes no websocket feed; its robot-server publishes to an MQTT broker
on the robot (port 1883; ``ot2-sim`` advertises its own broker in ``GET /health``). The
payloads carry no state, only ``{"refetch": true}`` (read the resource again) or
``{"unsubscribe": true}`` (it is gone), QoS 1, on topics such as ``robot-server/runs/{id}``
(the run changed: status, actions, errors) and ``robot-server/runs/commands_links`` (a
command of the current run was queued, started or finished).

:class:`MqttSubscriber` holds one paho-mqtt client with the same interface as the websocket
:class:`~ot2_notebook.client.feed.NotificationSubscriber`, so a
:class:`~ot2_notebook.client.watcher.SessionWatcher` uses either: every message reaches
``on_event`` as a :class:`~ot2_notebook.client.feed.Notification` (its ``data`` the payload),
``on_status(True)`` says the subscription is in place (after the broker's SUBACK: nothing
published after that is missed), ``on_status(False)`` that the connection dropped; paho
reconnects with back-off, and every reconnection is announced again, so the watcher
re-reads what it follows. :attr:`MqttSubscriber.hints_only` tells the watcher that messages
say "look again", never what changed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt

from ot2_notebook.client.subscription import Notification, Subscription

__all__ = ["COMMANDS_TOPIC", "MqttSubscriber", "run_topic", "run_topics"]

log = logging.getLogger(__name__)

#: A command of the current run changed.
COMMANDS_TOPIC = "robot-server/runs/commands_links"


def run_topic(run_id: str) -> str:
    """The topic of one run's changes (status, actions, errors)."""
    return f"robot-server/runs/{run_id}"


def run_topics(run_id: str) -> list[str]:
    """What a watcher of run ``run_id`` subscribes to."""
    return [run_topic(run_id), COMMANDS_TOPIC]


class MqttSubscriber(Subscription):
    """A subscription to ``topics`` on the broker at ``host:port`` (see the module doc).

    ``ping_interval`` is the MQTT keep-alive (a dead broker is noticed within about 1.5
    times it); reconnection waits ``min_backoff`` doubling to ``max_backoff`` seconds.
    """

    #: Messages say "read it again", not what changed.
    hints_only = True
    kind = "MQTT"

    def __init__(
        self,
        host: str,
        port: int,
        topics: Iterable[str],
        on_event: Callable[[Notification], None] | None = None,
        on_status: Callable[[bool], None] | None = None,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        ping_interval: float = 10.0,
        start: bool = True,
    ) -> None:
        super().__init__(topics, on_event, on_status, example_topic="robot-server/runs")
        self.host = host
        self.port = int(port)
        self.url = f"mqtt://{host}:{self.port}"
        self.ping_interval = ping_interval
        self._started = False
        self._pending: dict[int, bool] = {}
        #: The last connection failure, for diagnostics.
        self.last_error: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"ot2-notebook-{uuid.uuid4().hex[:12]}",
            clean_session=True,
        )
        self.client.reconnect_delay_set(
            min_delay=max(1, round(min_backoff)), max_delay=max(1, round(max_backoff))
        )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        if start:
            self.start()

    def __repr__(self) -> str:
        status = "connected" if self.connected else ("closed" if self.closed else "connecting")
        return f"<MqttSubscriber {self.url} {list(self.topics)} {status}>"

    @property
    def thread(self) -> threading.Thread | None:
        """paho's network thread (``None`` before :meth:`start` and after :meth:`close`)."""
        return getattr(self.client, "_thread", None)

    def start(self) -> MqttSubscriber:
        """Connect in the background (idempotent); returns ``self``."""
        with self._lock:
            if self._started or self._stop.is_set():
                return self
            self._started = True
        keepalive = max(1, round(self.ping_interval))
        self.client.connect_async(self.host, self.port, keepalive=keepalive)
        self.client.loop_start()
        return self

    def close(self, timeout: float | None = None) -> bool:
        """Disconnect and stop paho's thread. Returns whether the thread ended."""
        self._stop.set()
        thread = self.thread
        try:
            self.client.disconnect()
        except Exception:  # closing must not fail on a half-open connection
            log.debug("MQTT %s: disconnect failed", self.url, exc_info=True)
        if thread is threading.current_thread():
            return False
        self.client.loop_stop()
        if self._connected.is_set():
            self._set_connected(False)
        self._attempted.set()
        return thread is None or not thread.is_alive()

    # -- paho's callbacks (its network thread) ---------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.last_error = str(reason)
            self._attempted.set()
            return
        result, mid = client.subscribe([(topic, 1) for topic in self.topics])
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            self.last_error = f"subscribe failed ({result})"
            self._attempted.set()
            return
        with self._lock:
            self._pending[mid] = True

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        with self._lock:
            if not self._pending.pop(mid, False):
                return
        if any(getattr(r, "is_failure", False) for r in reasons or []):
            self.last_error = f"the broker refused the subscription: {list(reasons)}"
            self._attempted.set()
            return
        self.connect_count += 1
        self._set_connected(True)
        self._attempted.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.last_error = f"could not connect to the MQTT broker at {self.host}:{self.port}"
        log.debug("MQTT %s: %s", self.url, self.last_error)
        self._attempted.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self._stop.is_set():
            self.last_error = f"disconnected: {reason}"
            log.debug("MQTT %s: %s", self.url, self.last_error)
        self._attempted.set()
        if self._connected.is_set():
            self._set_connected(False)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError):
            log.warning("MQTT %s: ignoring a malformed message on %s", self.url, message.topic)
            return
        notification = Notification(
            topic=message.topic,
            created_on=None,
            publisher="mqtt",
            data=dict(payload) if isinstance(payload, dict) else {},
            raw={"topic": message.topic, "payload": payload},
        )
        self._publish(notification)
