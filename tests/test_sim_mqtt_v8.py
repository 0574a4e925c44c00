"""MQTT notifications of ``ot2-sim`` on robot software 8, against the 8.1.0 capture (07).

A real mosquitto (Debian's, started by the test on a free loopback port) carries them; a
paho-mqtt client subscribed to ``#`` records everything while the recorded HTTP steps of
scenario 07 are replayed (upload, run, play, pause, play, finish, dismiss, delete). After each
step the test waits until the messages the real robot-server published in that step have
arrived; in the end the topics, payloads, QoS and retain flags must be exactly those of the
capture, the number of ``commands_links`` messages aside (one per current-command change,
so it depends on how far the run got when the client paused it).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests

from ot2_notebook.simulator import start
from ot2_notebook.simulator.v8.broker import MosquittoBroker, find_mosquitto
from tests.conftest import wait_until
from tests.test_sim_replay_v8 import RECORDINGS, Replayer, poll_groups, state_of

CAPTURE = RECORDINGS / "07_notifications_mqtt.json"
LINKS = "robot-server/runs/commands_links"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    qos: int
    retain: bool


class Subscriber:
    """Every message on the broker, in arrival order."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="ot2-sim-test-subscriber",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe to the test broker"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append(
                Message(message.topic, message.payload.decode(), message.qos, bool(message.retain))
            )

    def since(self, start: int) -> list[Message]:
        with self._lock:
            return self.messages[start:]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    executable = find_mosquitto()
    if executable is None:
        pytest.fail("these tests need Debian's mosquitto: apt-get install mosquitto")
    server = MosquittoBroker(executable, Path(tmp_path_factory.mktemp("mqtt")))
    server.start()
    yield server
    server.stop()


def recorded_messages() -> list[tuple[str, str]]:
    """The capture's messages in order, ``commands_links`` refetches aside."""
    capture = json.loads(CAPTURE.read_text())
    return [
        (m["topic"], m["payload_raw"])
        for m in capture["mqtt_messages"]
        if not (m["topic"] == LINKS and m["payload"] == {"refetch": True})
    ]


def test_the_capture_is_what_the_readme_says() -> None:
    """The capture this test compares with: 93 messages on 5 topics, QoS 1, not retained."""
    capture = json.loads(CAPTURE.read_text())
    messages = capture["mqtt_messages"]
    assert len(messages) == 93
    assert len({m["topic"] for m in messages}) == 5
    assert {(m["qos"], m["retain"]) for m in messages} == {(1, False)}
    assert {m["payload_raw"] for m in messages} == {'{"refetch": true}', '{"unsubscribe": true}'}


def test_notifications_are_published_as_recorded(broker: MosquittoBroker) -> None:
    with start(
        port=0,
        robot_software=8,
        mqtt_broker=f"{broker.host}:{broker.port}",
        analysis_timeout=60,
    ) as sim:
        health = requests.get(f"{sim.url}/health", headers={"Opentrons-Version": "*"}, timeout=10)
        assert health.json()["simulator"]["mqtt"] == {
            "host": broker.host,
            "port": broker.port,
            "started_by_simulator": False,
        }
        subscriber = Subscriber(broker.host, broker.port)
        try:
            replayer = _replay_http(sim.url)
            expected = [(replayer._map(topic), payload) for topic, payload in recorded_messages()]

            def others() -> list[tuple[str, str]]:
                return [
                    (m.topic, m.payload)
                    for m in subscriber.since(0)
                    if not (m.topic == LINKS and m.payload == '{"refetch": true}')
                ]

            wait_until(
                lambda: len(others()) >= len(expected),
                timeout=30,
                message=lambda: f"expected {len(expected)} messages, got {others()}",
            )
            received = subscriber.since(0)
        finally:
            subscriber.close()
    got = others()
    assert Counter(got) == Counter(expected), f"published {got}, recorded {expected}"
    assert {(m.qos, m.retain) for m in received} == {(1, False)}
    # in the recorded order where it matters: created before started before stored before gone
    run_topic = next(t for t, _ in expected if t.startswith("robot-server/runs/") and t != LINKS)
    first = {key: got.index(key) for key in set(got)}
    assert (
        first[("robot-server/runs", '{"refetch": true}')]
        < first[("robot-server/maintenance_runs/current_run", '{"refetch": true}')]
    )
    assert got[-3:] == expected[-3:], "the run's topics are unsubscribed last, as recorded"
    assert all(payload == '{"refetch": true}' for _t, payload in got[:-3])
    assert run_topic in {t for t, _ in got}
    links = [m for m in received if m.topic == LINKS and m.payload == '{"refetch": true}']
    assert len(links) >= 5, f"only {len(links)} commands_links refetches (one per command)"


def _replay_http(url: str) -> Replayer:
    """The capture's HTTP steps: upload, run, play, pause, play, finish, dismiss, delete."""
    capture = json.loads(CAPTURE.read_text())
    replayer = Replayer(url)
    for group in poll_groups(capture["exchanges"]):
        last = group[-1]
        request, recorded = last["request"], last["response"]
        wanted = state_of(recorded.get("json"))
        if request["method"] == "GET" and wanted is not None:
            reply = wait_until(
                lambda r=request, w=wanted: (
                    (resp := replayer.send(r)).status_code == 200
                    and state_of(resp.json()) == w
                    and resp
                ),
                timeout=120,
                message=f"#{last['seq']}: never reached {wanted!r}",
            )
        else:
            reply = replayer.send(request)
        assert reply.status_code == recorded["status"], (last["seq"], reply.text)
        if recorded.get("json") is not None:
            replayer.learn_ids(recorded["json"], reply.json())
    return replayer


def test_the_simulator_starts_its_own_broker_and_says_where() -> None:
    """``mqtt_broker="auto"`` (the default): mosquitto on a free loopback port, advertised in
    ``GET /health``; a client that subscribes there hears about a new run."""
    with start(port=0, robot_software=8, analysis_timeout=60) as sim:
        http = requests.Session()
        http.headers["Opentrons-Version"] = "*"
        mqtt_info = http.get(f"{sim.url}/health", timeout=10).json()["simulator"]["mqtt"]
        assert mqtt_info["started_by_simulator"] is True
        assert mqtt_info["host"] == "127.0.0.1" and mqtt_info["port"] != 1883
        subscriber = Subscriber(mqtt_info["host"], mqtt_info["port"])
        try:
            run = http.post(f"{sim.url}/runs", json={"data": {}}, timeout=60).json()["data"]
            wait_until(
                lambda: (
                    {m.topic for m in subscriber.since(0)}
                    >= {"robot-server/runs", f"robot-server/runs/{run['id']}"}
                ),
                timeout=30,
                message=lambda: f"got {[m.topic for m in subscriber.since(0)]}",
            )
        finally:
            subscriber.close()


def test_without_a_broker_the_robot_serves_http() -> None:
    with start(port=0, robot_software=8, mqtt_broker="127.0.0.1:9", analysis_timeout=60) as sim:
        http = requests.Session()
        http.headers["Opentrons-Version"] = "*"
        run = http.post(f"{sim.url}/runs", json={"data": {}}, timeout=60)
        assert run.status_code == 201, run.text
        assert http.get(f"{sim.url}/runs", timeout=10).json()["links"]["current"]
