"""Runs: pacing, pause/resume/cancel, ctx.pause(), run errors, and the notification feed."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import websocket

from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import Api, wait_until
from tests.test_sim_bad_input import assert_command_rules


class Feed:
    """A websocket subscriber collecting frames on a thread."""

    def __init__(self, url: str, *topics: str) -> None:
        query = "&".join(f"topic={t}" for t in topics)
        self.ws = websocket.create_connection(
            f"{url.replace('http', 'ws')}/notifications/subscribe?{query}", timeout=10
        )
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.history: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                text = self.ws.recv()
            except Exception:
                return
            if not text:
                return
            self.frames.put(json.loads(text))

    def next(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.frames.get(timeout=timeout)

    def until(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Frames up to and including the first one matching ``predicate``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            seen.append(frame)
            self.history.append(frame)
            if predicate(frame["event"]["data"]):
                return seen

    def state_changes(self, session_id: str) -> list[tuple[str | None, str]]:
        """Every (previous, current) state of a session read so far, in order."""
        return [
            (d["previousState"], d["currentState"])
            for d in (f["event"]["data"] for f in self.history)
            if d["type"] == "SessionState" and d["sessionId"] == session_id
        ]

    def close(self) -> None:
        self.ws.close()
        self.thread.join(timeout=5)


def state_change(session_id: str, state: str) -> Any:
    return lambda d: (
        d.get("type") == "SessionState"
        and d.get("sessionId") == session_id
        and d["currentState"] == state
    )


@pytest.fixture(scope="module")
def paced() -> Iterator[SimulatorHandle]:
    """A robot that paces steps at the estimated robot time (speed 1)."""
    with start(port=0, max_protocols=50, speed=1) as handle:
        yield handle


@pytest.fixture
def paced_api(paced: SimulatorHandle) -> Iterator[Api]:
    with Api(paced.url) as api:
        yield api
        api.clean()


def test_pause_stops_steps_until_resume_then_cancel(paced_api: Api, paced: SimulatorHandle) -> None:
    api = paced_api
    api.upload("slow_steps.py")  # 30 delays of 2 s: paced, a run takes a minute
    session_id = api.create_session("slow_steps")
    api.wait_for_state(session_id, "loaded")
    load_count = len(api.session(session_id)["details"]["events"])
    feed = Feed(paced.url, "session_events")
    try:
        assert api.command(session_id, "protocol.startRun").status_code == 200
        api.wait_for_state(session_id, "running")
        # the first step starts at once; its 2 s delay is being paced
        feed.until(lambda d: d.get("type") == "ProtocolStep" and d["event"].endswith(".start"))
        assert api.command(session_id, "protocol.pause").status_code == 200
        feed.until(state_change(session_id, "paused"), timeout=5)
        count = len(api.session(session_id)["details"]["events"])
        # while paused no step starts or ends, well past the 2 s the step had left: the
        # next frame on the feed must not come within 2.5 s
        with pytest.raises(queue.Empty):
            feed.next(timeout=2.5)
        assert len(api.session(session_id)["details"]["events"]) == count
        assert_command_rules(api, session_id, "paused")
        assert api.command(session_id, "protocol.resume").status_code == 200
        api.wait_for_state(session_id, "running", timeout=5)
        wait_until(
            lambda: len(api.session(session_id)["details"]["events"]) > count + 1,
            timeout=10,
            message="steps did not continue after resume",
        )
        before = time.monotonic()
        assert api.command(session_id, "protocol.cancel").status_code == 200
        assert time.monotonic() - before < 1.0, "cancel returns promptly"
        assert api.state(session_id) == "stopped"
        events = api.session(session_id)["details"]["events"]
        commands = [e["event"] for e in events[load_count:] if e["source"] == "sessionCommand"]
        assert commands == [
            "protocol.startRun",
            "protocol.pause",
            "protocol.resume",
            "protocol.cancel",
        ]
        feed.until(state_change(session_id, "stopped"), timeout=10)
        assert feed.state_changes(session_id) == [
            ("loaded", "running"),
            ("running", "paused"),
            ("paused", "running"),
            ("running", "stopped"),
        ]
    finally:
        feed.close()


def test_cancel_and_delete_while_paused_return_promptly(paced_api: Api) -> None:
    api = paced_api
    api.upload("slow_steps.py")
    for action in ("cancel", "delete"):
        session_id = api.create_session("slow_steps")
        api.wait_for_state(session_id, "loaded")
        api.command(session_id, "protocol.startRun")
        api.wait_for_state(session_id, "running")
        api.command(session_id, "protocol.pause")
        api.wait_for_state(session_id, "paused", timeout=5)
        before = time.monotonic()
        if action == "cancel":
            assert api.command(session_id, "protocol.cancel").status_code == 200
            assert api.state(session_id) == "stopped"
        else:
            reply = api.delete(f"/sessions/{session_id}")
            assert reply.status_code == 200
            assert reply.json()["data"]["details"]["currentState"] == "stopped"
        assert time.monotonic() - before < 1.0
        assert api.get("/health").status_code == 200, "the server keeps serving"


def test_delete_while_running_returns_promptly(api: Api, clean_robot: None) -> None:
    api.upload("long_run.py")
    session_id = api.create_session("long_run")
    api.wait_for_state(session_id, "loaded")
    api.command(session_id, "protocol.startRun")
    api.wait_for_state(session_id, "running")
    before = time.monotonic()
    reply = api.delete(f"/sessions/{session_id}")
    assert time.monotonic() - before < 1.0
    assert reply.json()["data"]["details"]["currentState"] == "stopped"
    assert api.get(f"/sessions/{session_id}").status_code == 404


def test_ctx_pause_pauses_the_run_until_resumed(
    api: Api, clean_robot: None, robot_url: str
) -> None:
    api.upload("pause_in_protocol.py")
    session_id = api.create_session("pause_in_protocol")
    api.wait_for_state(session_id, "loaded")
    feed = Feed(robot_url, "session_events")
    try:
        api.command(session_id, "protocol.startRun")
        paused = api.wait_for_state(session_id, "paused")
        texts = [e["params"]["text"] for e in paused["details"]["events"][-3:] if e["params"]]
        assert texts[-1] == "Pausing robot operation: Add the reagent, then resume"
        assert not any("after the pause" in t for t in texts)
        api.command(session_id, "protocol.resume")
        finished = api.wait_for_state(session_id, "finished")
        last = [e["params"]["text"] for e in finished["details"]["events"] if e["params"]][-1]
        assert last == "after the pause"
        frames = feed.until(state_change(session_id, "finished"))
        states_seen = [
            f["event"]["data"]["currentState"]
            for f in frames
            if f["event"]["data"]["type"] == "SessionState"
        ]
        assert states_seen == ["running", "paused", "running", "finished"]
    finally:
        feed.close()


def test_run_error_is_visible_in_the_session(api: Api, clean_robot: None) -> None:
    uploaded = api.upload("fails_on_robot.py")
    assert uploaded["data"]["errors"] == [], "analysis simulates, so it passes"
    session_id = api.create_session("fails_on_robot")
    api.wait_for_state(session_id, "loaded")
    api.command(session_id, "protocol.startRun")
    failed = api.wait_for_state(session_id, "error")
    [error] = failed["details"]["errors"]
    assert error["type"] == "ExceptionInProtocolError"
    assert error["exceptionType"] == "RuntimeError"
    assert error["description"] == "the tip rack is empty"
    assert error["lineNumber"] == 10
    assert error["fileName"] == "fails_on_robot.py"


def test_protocol_steps_on_the_feed_carry_index_and_total(
    api: Api, clean_robot: None, robot_url: str
) -> None:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    loaded = api.wait_for_state(session_id, "loaded")
    total = sum(1 for e in loaded["details"]["events"] if e["event"].endswith(".start"))
    feed = Feed(robot_url, "session_events", "hardware_events")
    try:
        api.command(session_id, "protocol.startRun")
        frames = feed.until(state_change(session_id, "finished"))
    finally:
        feed.close()
    for frame in frames:
        assert frame["topic"] == "session_events"
        assert set(frame["event"]) == {"createdOn", "publisher", "data"}
    steps = [f["event"]["data"] for f in frames if f["event"]["data"]["type"] == "ProtocolStep"]
    starts = [s for s in steps if s["event"].endswith(".start")]
    assert [s["index"] for s in starts] == list(range(1, total + 1))
    assert {s["total"] for s in steps} == {total}
    assert all(s["sessionId"] == session_id for s in steps)
    assert starts[0]["text"].startswith("Picking up tip")
    run_ids = [
        e["commandId"]
        for e in api.session(session_id)["details"]["events"]
        if e["source"] == "protocol"
    ][2 * total :]
    assert [s["commandId"] for s in steps] == run_ids, "the feed and the log agree"


def test_startrun_to_running_event_arrives_quickly(
    api: Api, clean_robot: None, robot_url: str
) -> None:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    api.wait_for_state(session_id, "loaded")
    feed = Feed(robot_url, "session_events")
    try:
        api.command(session_id, "protocol.startRun")
        frames = feed.until(state_change(session_id, "running"), timeout=5)
        assert frames[-1]["event"]["data"]["previousState"] == "loaded"
    finally:
        feed.close()


def test_no_session_events_imitates_a_real_robot(start_sim: Any) -> None:
    handle = start_sim(session_events=False, max_protocols=5)
    feed = Feed(handle.url, "session_events")
    try:
        with Api(handle.url) as api:
            api.upload("moves.py")
            session_id = api.create_session("moves")
            api.wait_for_state(session_id, "loaded")
            api.command(session_id, "protocol.startRun")
            api.wait_for_state(session_id, "finished")
        with pytest.raises(queue.Empty):
            feed.next(timeout=0.5)
    finally:
        feed.close()


def test_speed_paces_the_run_by_estimated_time(start_sim: Any) -> None:
    # 30 delays of 2 s = 60 s of robot time; at speed 60 about 1 s, fast mode far less
    handle = start_sim(speed=60)
    with Api(handle.url) as api:
        uploaded = api.upload("slow_steps.py")
        assert uploaded["data"]["estimatedDuration"] == pytest.approx(60, abs=1)
        session_id = api.create_session("slow_steps")
        api.wait_for_state(session_id, "loaded")
        before = time.monotonic()
        api.command(session_id, "protocol.startRun")
        finished = api.wait_for_state(session_id, "finished", timeout=30)
        elapsed = time.monotonic() - before
    assert 0.9 <= elapsed < 10, elapsed
    # each step's end is stamped after its paced time (2 s / 60), not when it began
    stamps: dict[tuple[str, str], datetime] = {}
    for event in finished["details"]["events"][-60:]:
        stamps[(event["commandId"], event["event"].rsplit(".", 1)[1])] = datetime.fromisoformat(
            event["timestamp"]
        )
    durations = [
        (stamps[(cid, "end")] - stamps[(cid, "start")]).total_seconds()
        for cid, kind in stamps
        if kind == "start"
    ]
    assert len(durations) == 30
    assert min(durations) >= 0.03, durations
