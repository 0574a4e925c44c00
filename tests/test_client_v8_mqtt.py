"""The watcher's promise on robot software 8 across a real broker drop: a mosquitto of the
test's own (Debian's, on a free loopback port) carries ``ot2-sim --robot-software 8``'s
notifications; the test stops it in the middle of a run, changes the run while it is down,
and starts it again on the same port. The watcher polls so rarely here (every 30 s) that
only its resync after the reconnection can explain seeing the change in time.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ot2_notebook.client import RobotClient, SessionWatcher
from ot2_notebook.simulator import start
from ot2_notebook.simulator.v8.broker import find_mosquitto
from tests.conftest import wait_until

SLOW = """metadata = {"apiLevel": "2.20", "protocolName": "Slow steps"}


def run(ctx):
    for index in range(30):
        ctx.delay(seconds=2, msg=f"waiting {index}")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """mosquitto on one fixed loopback port, stopped and started by the test."""

    def __init__(self, folder: Path) -> None:
        executable = find_mosquitto()
        if executable is None:
            pytest.fail("this test needs Debian's mosquitto: apt-get install mosquitto")
        self.executable = executable
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.log = folder / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.executable, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self.accepts, timeout=15, message=lambda: self.log.read_text()[-500:])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    found = Broker(tmp_path)
    found.start()
    yield found
    found.stop()


def test_a_broker_drop_is_followed_by_a_resync(broker: Broker) -> None:
    changes: list[tuple[str | None, str]] = []
    with (
        start(
            port=0,
            robot_software=8,
            speed=5.0,
            analysis_timeout=60,
            mqtt_broker=f"127.0.0.1:{broker.port}",
        ) as sim,
        RobotClient(sim.url, timeout=60) as robot,
    ):
        assert robot.software.mqtt == ("127.0.0.1", broker.port)
        protocol = robot.upload(("slow.py", SLOW))
        session = robot.create_session(protocol.id)
        watcher = SessionWatcher(
            robot,
            session.id,
            on_change=lambda a, b: changes.append((a, b)),
            min_interval=30,
            max_interval=30,
            feed_interval=30,
        )
        try:
            subscriber = watcher.subscriber
            assert subscriber is not None and subscriber.wait_connected(10)
            session.start()
            watcher.wait_for("running", 10)

            broker.stop()
            # the subscriber notices first, then tells the watcher (its status callback)
            wait_until(lambda: not subscriber.connected, timeout=10, message="drop unnoticed")
            wait_until(lambda: watcher.mode == "polling", timeout=10, message="no fallback")
            session.pause()
            session.wait_for("paused", timeout=30)
            assert watcher.state == "running"  # nothing told it, and it polls every 30 s

            started = time.monotonic()
            broker.start()
            watcher.wait_for("paused", 20)  # the resync after reconnecting
            assert time.monotonic() - started < 20
            assert subscriber.connect_count == 2
            assert watcher.mode == "feed"

            # live again: the robot's next change arrives over the broker
            session.resume()
            watcher.wait_for("running", 20)
            session.cancel()
            watcher.wait_for("stopped", 20)
        finally:
            watcher.close()
    assert changes == [
        (None, "loaded"),
        ("loaded", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "stopped"),
    ]


def test_a_broker_that_does_not_answer_leaves_the_watcher_polling() -> None:
    """The robot names a broker nobody listens on (it is down): the subscription keeps
    trying in paho's thread, the watcher polls meanwhile, and closing ends that thread."""
    changes: list[tuple[str | None, str]] = []
    with (
        start(
            port=0, robot_software=8, analysis_timeout=60, mqtt_broker=f"127.0.0.1:{free_port()}"
        ) as sim,
        RobotClient(sim.url, timeout=60) as robot,
    ):
        protocol = robot.upload(("slow.py", SLOW.replace("seconds=2", "seconds=0.1")))
        session = robot.create_session(protocol.id)
        watcher = SessionWatcher(robot, session.id, on_change=lambda a, b: changes.append((a, b)))
        try:
            subscriber = watcher.subscriber
            assert subscriber is not None and subscriber.wait_first_attempt(10)
            assert not subscriber.connected and subscriber.last_error
            assert watcher.mode == "polling"
            session.start()
            watcher.wait_for("finished", 60)
        finally:
            assert watcher.close() is True
        assert subscriber.thread is None or not subscriber.thread.is_alive()
    assert changes[0] == (None, "loaded") and changes[-1] == ("running", "finished")
