"""MQTT notifications of the software-8 robot, as robot-server 8.1.0 publishes them.

Topics (recording 07) and when they are published:

* ``robot-server/runs`` and ``robot-server/runs/{runId}``: a run was created, its status
  changed, it stopped being current, or it was deleted;
* ``robot-server/runs/commands_links``: the current command changed;
* ``robot-server/runs/pre_serialized_commands/{runId}``: the run's commands were stored
  (the run ended, or stopped being current);
* ``robot-server/maintenance_runs/current_run``: a protocol run started (robot-server ends
  any maintenance run then).

Payloads are ``{"refetch": true}`` (clients fetch the data over HTTP) or, for a deleted run's
topics, ``{"unsubscribe": true}``; QoS 1, not retained, MQTT 5, as robot-server's client.
Without a broker the robot serves HTTP all the same (clients poll): messages published while
disconnected are dropped, since a client that reconnects refetches anyway.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any, Protocol

log = logging.getLogger(__name__)

BASE = "robot-server"
RUNS = f"{BASE}/runs"
COMMANDS_LINKS = f"{BASE}/runs/commands_links"
PRE_SERIALIZED_COMMANDS = f"{BASE}/runs/pre_serialized_commands"
MAINTENANCE_CURRENT_RUN = f"{BASE}/maintenance_runs/current_run"

REFETCH = {"refetch": True}
UNSUBSCRIBE = {"unsubscribe": True}


class Publisher(Protocol):
    def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class NoBroker:
    """No MQTT broker: nothing is published (clients poll)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class MqttPublisher:
    """A paho-mqtt client that keeps (re)connecting to the broker in its own thread."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.host = host
        self.port = port
        self._client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"ot2-sim-{random.randint(0, 1_000_000)}",
            protocol=mqtt.MQTTv5,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_connect = self._on_connect
        self._client.connect_async(host, port, keepalive=60)
        self._client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning(
                "MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason
            )
        else:
            log.info("publishing notifications to the MQTT broker at %s:%s", self.host, self.port)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def wait_connected(self, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while not self.connected:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.connected:
            self._client.publish(topic, json.dumps(payload), qos=1, retain=False)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class RunTopics:
    """What robot-server's ``RunsPublisher`` (and the maintenance runs one) publish, and when."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self._any_run = False  # robot-server names run topics once it has published for a run

    def _refetch_runs(self, run_id: str) -> None:
        self.publisher.publish(RUNS, REFETCH)
        if self._any_run:
            self.publisher.publish(f"{RUNS}/{run_id}", REFETCH)

    def run_created(self, run_id: str) -> None:
        self._any_run = True
        self._refetch_runs(run_id)

    def run_changed(self, run_id: str) -> None:
        """The run's status changed, or it stopped being current."""
        self._refetch_runs(run_id)

    def current_command_changed(self) -> None:
        self.publisher.publish(COMMANDS_LINKS, REFETCH)

    def commands_stored(self, run_id: str) -> None:
        if self._any_run:
            self.publisher.publish(f"{PRE_SERIALIZED_COMMANDS}/{run_id}", REFETCH)

    def protocol_run_started(self) -> None:
        self.publisher.publish(MAINTENANCE_CURRENT_RUN, REFETCH)

    def run_deleted(self, run_id: str) -> None:
        self._refetch_runs(run_id)
        if self._any_run:
            self.publisher.publish(f"{RUNS}/{run_id}", UNSUBSCRIBE)
            self.publisher.publish(COMMANDS_LINKS, UNSUBSCRIBE)
            self.publisher.publish(f"{PRE_SERIALIZED_COMMANDS}/{run_id}", UNSUBSCRIBE)
