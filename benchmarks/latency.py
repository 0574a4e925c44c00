"""startRun -> first ``running`` SessionState frame on the notification websocket.

A subscriber to ``session_events`` (plain websocket-client, a thread that stamps each frame
the moment it is read) is connected before the run; the clock starts just before the
``protocol.startRun`` request is sent and stops when the frame saying the session is
``running`` arrives. The same session runs the small protocol again and again (``finished``
allows ``startRun``). Goal (issues 2 and 8): p50 at most 10 ms.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import websocket

from benchmarks.harness import Bench, BenchmarkError, Goal, percentile, summary_ms
from benchmarks.protocols import standard

NAME = "latency"
TITLE = "startRun -> first 'running' SessionState frame on the websocket"

P50_GOAL = Goal("<=", 10, "ms")
WAIT = 60.0


class Feed:
    """A ``session_events`` subscriber whose frames carry their arrival time."""

    def __init__(self, base_url: str) -> None:
        ws_url = base_url.replace("http://", "ws://", 1)
        self.socket = websocket.create_connection(
            f"{ws_url}/notifications/subscribe?topic=session_events", timeout=WAIT
        )
        self.frames: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, name="bench-feed", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                text = self.socket.recv()
            except (websocket.WebSocketException, OSError):
                return
            arrived = time.perf_counter()
            if text:
                self.frames.put((arrived, json.loads(text)["event"]["data"]))

    def drain(self) -> None:
        while not self.frames.empty():
            self.frames.get_nowait()

    def wait_state(self, session_id: str, *states: str) -> tuple[float, str]:
        """Arrival time and state of the next SessionState frame of ``session_id`` in
        ``states``; a frame saying ``error`` fails the benchmark."""
        deadline = time.monotonic() + WAIT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchmarkError(f"no {states} frame for session {session_id} in {WAIT:g} s")
            try:
                arrived, data = self.frames.get(timeout=remaining)
            except queue.Empty:
                continue
            if data.get("type") != "SessionState" or data.get("sessionId") != session_id:
                continue
            state = str(data.get("currentState"))
            if state in states:
                return arrived, state
            if state == "error":
                raise BenchmarkError(f"session {session_id} went to error")

    def close(self) -> None:
        self.socket.close()
        self.thread.join(5)


def run(bench: Bench) -> None:
    robot = bench.robot()
    protocol = standard("small")
    protocol_id = bench.unique_id("latency")
    robot.upload(protocol_id, protocol.data)
    feed = Feed(bench.sim.url)
    try:
        reply = robot.post(
            "/sessions",
            json={"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}},
        )
        if reply.status_code != 201:
            raise BenchmarkError(f"session: {reply.status_code} {reply.text[:300]}")
        session_id = reply.json()["data"]["id"]
        feed.wait_state(session_id, "loaded")
        start_run = {"data": {"command": "protocol.startRun", "data": {}}}
        url = f"/sessions/{session_id}/commands/execute"
        latencies: list[float] = []
        replies: list[float] = []
        reps = bench.options.reps(40, 10, 5)
        for rep in range(reps + 1):  # the first run is a warm-up
            feed.drain()
            sent = time.perf_counter()
            answer = robot.post(url, json=start_run)
            answered = time.perf_counter()
            if answer.status_code != 200:
                raise BenchmarkError(f"startRun: {answer.status_code} {answer.text[:300]}")
            arrived, _ = feed.wait_state(session_id, "running")
            feed.wait_state(session_id, "finished")
            if rep:
                latencies.append(arrived - sent)
                replies.append(answered - sent)
        robot.delete(f"/sessions/{session_id}")
    finally:
        feed.close()
        robot.delete(f"/protocols/{protocol_id}")
    stats = summary_ms(latencies)
    bench.record(NAME, "startRun -> running frame p50", stats["p50"], "ms", P50_GOAL, samples=stats)
    bench.record(NAME, "startRun -> running frame p95", percentile(latencies, 0.95) * 1000, "ms")
    bench.record(
        NAME,
        "startRun HTTP answer p50 (for comparison)",
        summary_ms(replies)["p50"],
        "ms",
        samples=summary_ms(replies),
    )
