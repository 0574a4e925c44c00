"""The notification feed and SessionWatcher against real ``ot2-sim`` processes.

* the feed on (the simulator publishes ``session_events``): the watcher reports exactly the
  changes the robot published;
* the feed off (``session_events=False``, like a real 4.x robot): it polls, and still reports
  each change it sees once and in order, including pause/resume;
* the network cut mid-run (a real TCP relay between client and simulator, see
  :class:`TcpRelay`), briefly or while the session changes: every change still reported once;
* clean shutdown: no thread and no socket left behind.

Ground truth for the feed-on cases is an independent subscriber connected straight to the
simulator before the session exists.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ot2_notebook.client import NotFoundError, RobotClient, RobotError, RobotUnreachableError
from ot2_notebook.client.feed import Notification, NotificationSubscriber
from ot2_notebook.client.models import StepEvent
from ot2_notebook.client.watcher import SessionWatcher
from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until truthy (a wait on a condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


class TcpRelay:
    """A real TCP relay in front of the simulator that a test can cut like a network.

    ``drop()`` resets every open connection (HTTP and websocket alike); ``hold()`` also
    refuses new ones until ``release()``; ``hold(websockets_only=True)`` refuses only the
    notification feed's connections, so HTTP still gets through.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._held = threading.Event()
        self._websockets_held = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="test-relay")
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._held.is_set():
                self._reset(client)
                continue
            self._spawn(self._connect, client)

    def _connect(self, client: socket.socket) -> None:
        if self._websockets_held.is_set():
            client.settimeout(5)
            try:
                head = client.recv(1024, socket.MSG_PEEK)
            except OSError:
                head = b""
            client.settimeout(None)
            if b"/notifications/subscribe" in head.split(b"\r\n", 1)[0]:
                self._reset(client)
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.update((client, upstream))
        self._spawn(self._pump, client, upstream)
        self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        # SO_LINGER 0: close with RST, as when a network path dies and comes back. The
        # shutdown wakes the relay thread blocked reading it (a bare close would not).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def drop(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                self._reset(sock)

    def hold(self, *, websockets_only: bool = False) -> None:
        (self._websockets_held if websockets_only else self._held).set()
        self.drop()

    def release(self) -> None:
        self._held.clear()
        self._websockets_held.clear()

    def close(self) -> None:
        self._closed.set()
        self.drop()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def relay_factory() -> Iterator[Callable[[SimulatorHandle], TcpRelay]]:
    relays: list[TcpRelay] = []

    def make(handle: SimulatorHandle) -> TcpRelay:
        relays.append(TcpRelay(handle.port))
        return relays[-1]

    yield make
    for relay in relays:
        relay.close()


class Recorder:
    """Collects a watcher's callbacks (they run on the watcher's thread)."""

    def __init__(self) -> None:
        self.changes: list[tuple[str | None, str]] = []
        self.steps: list[StepEvent] = []
        self.errors: list[RobotError] = []
        self.threads: set[str] = set()

    def on_change(self, previous: str | None, current: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.changes.append((previous, current))

    def on_step(self, step: StepEvent) -> None:
        self.steps.append(step)

    def on_error(self, error: RobotError) -> None:
        self.errors.append(error)

    def watch(self, client: RobotClient, session_id: str, **options: Any) -> SessionWatcher:
        return SessionWatcher(
            client,
            session_id,
            on_change=self.on_change,
            on_step=self.on_step,
            on_error=self.on_error,
            **options,
        )


class Truth:
    """Every frame the simulator publishes, from a subscriber connected straight to it."""

    def __init__(self, url: str) -> None:
        self.frames: list[Notification] = []
        self.feed = NotificationSubscriber(url, ["session_events"], on_event=self.frames.append)
        assert self.feed.wait_connected(10)

    def changes(self, session_id: str) -> list[tuple[str | None, str]]:
        return [
            (n.data["previousState"], n.data["currentState"])
            for n in list(self.frames)
            if n.data.get("type") == "SessionState" and n.data.get("sessionId") == session_id
        ]

    def steps(self, session_id: str) -> list[tuple[str, str]]:
        return [
            (n.data["commandId"], n.data["event"])
            for n in list(self.frames)
            if n.data.get("type") == "ProtocolStep" and n.data.get("sessionId") == session_id
        ]


def assert_one_chain(changes: list[tuple[str | None, str]]) -> None:
    """Each change starts where the previous ended, and none repeats its own state."""
    assert changes and changes[0][0] is None
    for (_, before), (after_previous, after) in itertools.pairwise(changes):
        assert after_previous == before, changes
        assert after != after_previous, changes


def upload_and_load(robot: RobotClient, path: Path, support: list[Path] | None = None) -> str:
    proto = robot.upload(path, support=support or [], replace=True)
    session = robot.create_session(proto)
    session.wait_for("loaded", timeout=30)
    return session.id


def our_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("ot2-")}


def tcp_connections_to(port: int) -> set[int]:
    """Local ports of this process's open TCP connections to ``port``. Compared as sets:
    other tests' idle keep-alive connections may close meanwhile, never open."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


# -- the subscriber --------------------------------------------------------------------------


def test_frames_are_parsed_and_delivered(robot_url: str, clean_robot: None) -> None:
    received: list[Notification] = []
    statuses: list[bool] = []
    with NotificationSubscriber(
        robot_url,
        ["session_events", "hardware_events"],
        on_event=received.append,
        on_status=statuses.append,
    ) as feed:
        assert feed.wait_connected(10)
        assert (
            feed.url.startswith("ws://")
            and "topic=session_events&topic=hardware_events" in feed.url
        )
        with RobotClient(robot_url) as robot:
            session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
        mine = wait_until(
            lambda: (
                [n for n in received if n.data.get("sessionId") == session_id][:2]
                if len([n for n in received if n.data.get("sessionId") == session_id]) >= 2
                else None
            ),
            what="two session frames",
        )
    first, second = mine
    assert first.topic == "session_events"
    assert first.created_on is not None and first.created_on.tzinfo is not None
    assert first.publisher
    assert first.data == {
        "type": "SessionState",
        "sessionId": session_id,
        "protocolId": "serial_dilution",
        "currentState": "stopped",
        "previousState": None,
    }
    assert (second.data["previousState"], second.data["currentState"]) == ("stopped", "loaded")
    assert statuses == [True, False]


def test_malformed_frames_are_not_notifications() -> None:
    for frame in ["not json", "[]", '{"topic": 3}', '{"topic": "t"}', '{"topic": "t", "event": 1}']:
        assert Notification.parse(frame) is None
    parsed = Notification.parse(
        b'{"topic": "hardware_events", "event": {"createdOn": "2026-11-29T07:17:20.297901+00:00",'
        b' "publisher": "recorder", "data": {"event": "door_state", "state": false}}}'
    )
    assert parsed is not None
    assert (parsed.topic, parsed.publisher) == ("hardware_events", "recorder")
    assert parsed.data == {"event": "door_state", "state": False}


def test_a_subscription_needs_a_topic(robot_url: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        NotificationSubscriber(robot_url, [])


def test_close_leaves_no_thread_and_no_socket(sim: SimulatorHandle) -> None:
    threads_before = threading.active_count()
    sockets_before = tcp_connections_to(sim.port)
    feed = NotificationSubscriber(sim.url, ["session_events"])
    assert feed.wait_connected(10)
    assert len(tcp_connections_to(sim.port) - sockets_before) == 1
    started = time.monotonic()
    assert feed.close() is True
    assert time.monotonic() - started < 2  # an idle socket is aborted, not waited out
    assert feed.thread is not None and not feed.thread.is_alive()
    assert threading.active_count() == threads_before
    assert tcp_connections_to(sim.port) - sockets_before == set()
    assert not feed.connected


def test_reconnects_after_the_network_drops(
    sim: SimulatorHandle, clean_robot: None, relay_factory: Callable[[SimulatorHandle], TcpRelay]
) -> None:
    relay = relay_factory(sim)
    received: list[Notification] = []
    statuses: list[bool] = []
    with NotificationSubscriber(
        relay.url,
        ["session_events"],
        on_event=received.append,
        on_status=statuses.append,
        min_backoff=0.05,
    ) as feed:
        assert feed.wait_connected(10)
        relay.hold()
        wait_until(lambda: not feed.connected, what="the feed to notice the drop")
        relay.release()
        wait_until(lambda: feed.connect_count >= 2 and feed.connected, what="a reconnect")
        with RobotClient(sim.url) as robot:
            session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
        wait_until(
            lambda: any(n.data.get("sessionId") == session_id for n in received),
            what="frames after the reconnect",
        )
    assert statuses[:3] == [True, False, True]


def test_a_robot_that_is_not_there_is_retried_until_closed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feed = NotificationSubscriber(f"http://127.0.0.1:{port}", ["session_events"], max_backoff=0.2)
    wait_until(lambda: feed.last_error is not None, what="a failed connection attempt")
    assert not feed.connected
    assert feed.close(timeout=5) is True


# -- the watcher with the feed on --------------------------------------------------------------


def test_watcher_reports_exactly_what_the_feed_publishes(robot_url: str, clean_robot: None) -> None:
    truth = Truth(robot_url)
    recorder = Recorder()
    try:
        with RobotClient(robot_url) as robot:
            session = robot.create_session(robot.upload(DILUTION, support=DILUTION_SUPPORT))
            with recorder.watch(robot, session.id) as watcher:
                watcher.wait_for("loaded", 30)
                session.start()
                assert watcher.wait_for("finished", 60) == "finished"
                assert watcher.mode == "feed"
                # The direct subscriber reads the same feed on its own connection and may be
                # behind the watcher: wait for the session's last frame there (the change to
                # finished, published after every step) before comparing the two.
                wait_until(
                    lambda: truth.changes(session.id)[-1:] == [("running", "finished")],
                    what="the direct feed's change to finished",
                )
                wait_until(
                    lambda: len(recorder.steps) == len(truth.steps(session.id)) > 0,
                    what="as many steps reported as published",
                )
                transitions = watcher.transitions
        truth_changes = truth.changes(session.id)
    finally:
        truth.feed.close()

    assert_one_chain(recorder.changes)
    assert transitions == recorder.changes
    start = recorder.changes[0][1]
    # after the state found on start, exactly the published changes, in order
    published = truth_changes[[c for _, c in truth_changes].index(start) + 1 :]
    assert recorder.changes[1:] == published
    assert [c for _, c in recorder.changes][-3:] == ["loaded", "running", "finished"]

    assert [(s.command_id, s.event) for s in recorder.steps] == truth.steps(session.id)
    starts = [s for s in recorder.steps if s.phase == "start"]
    assert [s.index for s in starts] == list(range(1, len(starts) + 1))
    assert {s.total for s in starts} == {len(starts)}
    assert all(s.text for s in starts)
    assert recorder.threads == {watcher.thread.name}  # callbacks on the watcher's thread


def test_watcher_reports_a_run_error_with_its_details(robot_url: str, clean_robot: None) -> None:
    recorder = Recorder()
    with RobotClient(robot_url) as robot:
        session_id = upload_and_load(robot, PROTOCOLS / "fails_on_robot.py")
        with recorder.watch(robot, session_id) as watcher:
            watcher.wait_for("loaded", 30)
            robot.session(session_id).start()
            watcher.wait_for("error", 60)
            assert watcher.snapshot is not None and watcher.snapshot.error is not None
            assert "the tip rack is empty" in watcher.snapshot.error.description
    assert recorder.changes[-2:] == [("loaded", "running"), ("running", "error")]


# -- the watcher on a robot without session events (a real 4.x robot) -------------------------


def test_watcher_polls_when_the_robot_publishes_no_session_events(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    handle = start_sim(session_events=False, speed=10.0, max_protocols=2)
    recorder = Recorder()
    with RobotClient(handle.url) as robot:
        session_id = upload_and_load(robot, PROTOCOLS / "slow_steps.py")
        session = robot.session(session_id)
        with recorder.watch(robot, session_id, max_interval=0.5) as watcher:
            assert watcher.wait_for("loaded", 30)
            session.start()
            watcher.poke()
            watcher.wait_for("running", 30)
            wait_until(lambda: len(recorder.steps) >= 2, what="steps while running")
            session.pause()
            watcher.poke()
            watcher.wait_for("paused", 30)
            session.resume()
            watcher.poke()
            watcher.wait_for("running", 30)
            watcher.wait_for("finished", 60)
            assert watcher.mode == "polling"
            assert watcher.subscriber is not None and watcher.subscriber.connected
    assert recorder.changes == [
        (None, "loaded"),
        ("loaded", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "finished"),
    ]
    starts = [s for s in recorder.steps if s.phase == "start"]
    assert [s.index for s in starts] == list(range(1, 31))
    assert {s.total for s in starts} == {30}
    assert [s.text for s in starts][:2] == [
        "Delaying for 0 minutes and 2.0 seconds. waiting 0",
        "Delaying for 0 minutes and 2.0 seconds. waiting 1",
    ]


def test_polling_only_watcher(robot_url: str, clean_robot: None) -> None:
    recorder = Recorder()
    with RobotClient(robot_url) as robot:
        session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
        with recorder.watch(robot, session_id, use_feed=False) as watcher:
            watcher.wait_for("loaded", 30)
            robot.session(session_id).start()
            watcher.poke()
            watcher.wait_for("finished", 60)
            assert watcher.subscriber is None and watcher.mode == "polling"
    assert_one_chain(recorder.changes)
    assert recorder.changes[0] == (None, "loaded")
    assert recorder.changes[-1][1] == "finished"
    # a fast run may be over between two polls: then running is folded into finished
    assert recorder.changes[1:] in (
        [("loaded", "running"), ("running", "finished")],
        [("loaded", "finished")],
    )
    assert [s.phase for s in recorder.steps].count("start") == 12


# -- the network cut mid-run ---------------------------------------------------------------------


@pytest.fixture
def slow_sim(start_sim: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    return start_sim(speed=10.0, max_protocols=2)  # slow_steps: 30 x 0.2 s


def test_socket_dropped_mid_run_loses_and_repeats_nothing(
    slow_sim: SimulatorHandle, relay_factory: Callable[[SimulatorHandle], TcpRelay]
) -> None:
    relay = relay_factory(slow_sim)
    truth = Truth(slow_sim.url)
    recorder = Recorder()
    try:
        with RobotClient(slow_sim.url) as direct, RobotClient(relay.url) as robot:
            session_id = upload_and_load(direct, PROTOCOLS / "slow_steps.py")
            with recorder.watch(robot, session_id, feed_interval=60) as watcher:
                watcher.wait_for("loaded", 30)
                direct.session(session_id).start()
                watcher.wait_for("running", 30)
                wait_until(lambda: watcher.mode == "feed", what="the feed to carry the run")
                wait_until(lambda: len(recorder.steps) >= 4, what="steps before the drop")
                relay.drop()
                assert watcher.subscriber is not None
                wait_until(
                    lambda: watcher.subscriber.connect_count >= 2 and watcher.mode == "feed",
                    what="a reconnect",
                )
                watcher.wait_for("finished", 60)
                wait_until(lambda: len(recorder.steps) >= 60, what="every step")
        # the direct subscriber reads on its own thread: let it reach the run's end too
        wait_until(
            lambda: any(c == "finished" for _, c in truth.changes(session_id)),
            what="the direct feed's last frame",
        )
        truth_changes = truth.changes(session_id)
        truth_steps = truth.steps(session_id)
    finally:
        truth.feed.close()
    assert_one_chain(recorder.changes)
    assert recorder.changes == [(None, "loaded"), ("loaded", "running"), ("running", "finished")]
    assert recorder.changes[1:] == truth_changes[2:]
    keys = [(s.command_id, s.event) for s in recorder.steps]
    assert len(keys) == len(set(keys)) == len(truth_steps) == 60  # none lost, none twice
    assert sorted(keys, key=lambda k: (int(k[0]), k[1] == "end")) == keys  # in order


def test_changes_while_the_network_is_down_are_reported_once_after(
    slow_sim: SimulatorHandle, relay_factory: Callable[[SimulatorHandle], TcpRelay]
) -> None:
    relay = relay_factory(slow_sim)
    recorder = Recorder()
    with RobotClient(slow_sim.url) as direct, RobotClient(relay.url) as robot:
        session_id = upload_and_load(direct, PROTOCOLS / "slow_steps.py")
        session = direct.session(session_id)
        with recorder.watch(robot, session_id, feed_interval=60) as watcher:
            watcher.wait_for("loaded", 30)
            session.start()
            watcher.wait_for("running", 30)
            wait_until(lambda: watcher.mode == "feed", what="the feed to carry the run")

            relay.hold()  # the robot is cut off: no feed, no polls
            wait_until(lambda: watcher.mode == "polling", what="the watcher to notice")
            session.pause()
            session.wait_for("paused", 10)
            wait_until(lambda: recorder.errors, what="a failed poll")
            assert watcher.state == "running"  # it cannot know yet

            relay.release()
            assert watcher.wait_for("paused", 30) == "paused"  # resynced from GET
            wait_until(lambda: watcher.mode == "feed", what="the feed back")
            session.resume()
            watcher.wait_for("finished", 60)
    assert recorder.changes == [
        (None, "loaded"),
        ("loaded", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "finished"),
    ]
    assert isinstance(recorder.errors[0], RobotUnreachableError)
    assert len(recorder.errors) == 1  # once per outage, not once per failed poll


def test_after_a_reconnect_the_watcher_resyncs_from_get(
    slow_sim: SimulatorHandle, relay_factory: Callable[[SimulatorHandle], TcpRelay]
) -> None:
    """The feed is down for a moment while the session changes, and no poll happens in that
    window (polls are 30 s apart here): the change is still reported, right after the
    feed comes back, because the watcher re-reads the session on reconnect."""
    relay = relay_factory(slow_sim)
    recorder = Recorder()
    with RobotClient(slow_sim.url) as direct, RobotClient(relay.url) as robot:
        session_id = upload_and_load(direct, PROTOCOLS / "slow_steps.py")
        session = direct.session(session_id)
        with recorder.watch(
            robot, session_id, min_interval=30, max_interval=30, feed_interval=30
        ) as watcher:
            session.start()
            watcher.wait_for("running", 30)
            wait_until(lambda: watcher.mode == "feed", what="the feed to carry the run")
            assert watcher.subscriber is not None
            connects = watcher.subscriber.connect_count

            relay.hold(websockets_only=True)
            wait_until(lambda: not watcher.subscriber.connected, what="the feed to drop")
            session.pause()
            session.wait_for("paused", 10)
            relay.release()
            wait_until(lambda: watcher.subscriber.connect_count > connects, what="a reconnect")
            released = time.monotonic()
            assert watcher.wait_for("paused", 10) == "paused"
            assert time.monotonic() - released < 5  # not by the next poll, 30 s away
            session.resume()
            watcher.wait_for("finished", 60)
    assert recorder.changes == [
        (None, "loaded"),
        ("loaded", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "finished"),
    ]
    assert recorder.errors == []  # HTTP was never cut


# -- end of a session, and shutdown ------------------------------------------------------------


def test_a_deleted_session_ends_the_watcher(robot_url: str, clean_robot: None) -> None:
    recorder = Recorder()
    with RobotClient(robot_url) as robot:
        session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
        watcher = recorder.watch(robot, session_id, feed_interval=0.2)
        watcher.wait_for("loaded", 30)
        robot.delete_session(session_id)
        wait_until(lambda: watcher.gone, what="the watcher to find the session gone")
        watcher.thread.join(10)
        assert not watcher.thread.is_alive()
        assert watcher.close() is True
    assert len(recorder.errors) == 1 and isinstance(recorder.errors[0], NotFoundError)
    with pytest.raises(RuntimeError, match="deleted"):
        watcher.wait_for("finished", 1)


def test_watcher_close_leaves_no_thread_and_no_socket(
    sim: SimulatorHandle, clean_robot: None
) -> None:
    with RobotClient(sim.url) as robot:
        session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
    threads_before = threading.active_count()
    sockets_before = tcp_connections_to(sim.port)
    robot = RobotClient(sim.url)
    watcher = SessionWatcher(robot, session_id)
    watcher.wait_for("loaded", 30)
    assert watcher.subscriber is not None and watcher.subscriber.wait_connected(10)
    assert len(our_threads()) == 2  # the watcher and its feed
    assert len(tcp_connections_to(sim.port) - sockets_before) == 2  # the feed, and HTTP
    started = time.monotonic()
    assert watcher.close() is True
    robot.close()
    assert time.monotonic() - started < 3
    assert our_threads() == set()
    assert threading.active_count() == threads_before
    assert tcp_connections_to(sim.port) - sockets_before == set()
    assert watcher.close() is True  # idempotent


def test_closing_from_a_callback_does_not_deadlock(robot_url: str, clean_robot: None) -> None:
    closed = threading.Event()
    with RobotClient(robot_url) as robot:
        session_id = upload_and_load(robot, DILUTION, DILUTION_SUPPORT)
        holder: dict[str, SessionWatcher] = {}

        def on_change(previous: str | None, current: str) -> None:
            wait_until(lambda: "w" in holder, timeout=5)
            holder["w"].close()
            closed.set()

        holder["w"] = SessionWatcher(robot, session_id, on_change=on_change)
        assert closed.wait(10)
        holder["w"].thread.join(10)
        assert not holder["w"].thread.is_alive()
        assert our_threads() == set()
