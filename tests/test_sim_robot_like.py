"""``ot2-sim --robot-like``: robot-server 4.7 where a client must cope, minus its deadlocks.

What is checked against a real robot-like simulator, over plain HTTP: ``GET /health`` looks
like a robot's (no ``simulator`` object, API level 2.11 at most); answers carry none of the
simulator's additions (run errors, ``estimatedDuration``, ``slot``...); no session events on
the feed; a cancel of a running session answers only after the stop delay and holds every
other request meanwhile (as 4.7's blocked event loop does); a cancel or delete of a paused
session, which deadlocks a real 4.7 server (recordings 15, 16), is refused and recorded in
``GET /simulator/requests``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ot2_notebook.client import NotificationSubscriber, RobotClient
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import CHUNKED_UPLOAD_TYPE, Api, chunked_upload, wait_until

STOP_DELAY = 3.0

SLOW = """
metadata = {"apiLevel": "2.11", "protocolName": "Slow"}


def run(ctx):
    for index in range(60):
        ctx.delay(seconds=1, msg=f"waiting {index}")
"""

FAILS_AT_RUN = """
metadata = {"apiLevel": "2.11", "protocolName": "Fails at run"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    ctx.load_instrument("p300_multi_gen2", "left", tip_racks=[tips])
"""


@pytest.fixture(scope="module")
def robot_like() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_like=True, stop_delay=STOP_DELAY, speed=1, max_protocols=20) as h:
        yield h


@pytest.fixture
def api(robot_like: SimulatorHandle) -> Iterator[Api]:
    with Api(robot_like.url) as session:
        yield session
        for item in session.get("/sessions").json()["data"]:
            if item["details"]["currentState"] == "paused":
                session.command(item["id"], "protocol.resume")
        session.clean()


def upload(api: Api, name: str, source: str) -> dict[str, Any]:
    reply = api.post("/protocols", files=[("protocolFile", (name, source))])
    assert reply.status_code == 201, reply.text
    return dict(reply.json()["data"])


def started(api: Api, name: str, source: str) -> str:
    session_id = api.create_session(upload(api, name, source)["id"])
    api.wait_for_state(session_id, "loaded")
    assert api.command(session_id, "protocol.startRun").status_code == 200
    api.wait_for_state(session_id, "running")
    return session_id


def request_log(api: Api) -> dict[str, Any]:
    reply = api.get("/simulator/requests")
    assert reply.status_code == 200
    return dict(reply.json())


def test_health_is_a_robots(api: Api) -> None:
    health = api.get("/health").json()
    assert "simulator" not in health
    assert health["name"] == "ot2-sim-robot-like"
    assert health["api_version"] == "4.7.0"
    assert health["maximum_protocol_api_version"] == [2, 11]
    newer = upload(api, "newer.py", 'metadata = {"apiLevel": "2.13"}\ndef run(ctx):\n    pass\n')
    assert newer["errors"][0]["description"].startswith("API version 2.13 is not supported")


def test_answers_carry_none_of_the_simulators_additions(api: Api) -> None:
    data = upload(
        api,
        "plain.py",
        'metadata = {"apiLevel": "2.11", "description": "d"}\n'
        "def run(ctx):\n"
        '    ctx.load_module("magnetic module gen2", 4)\n'
        '    ctx.load_labware("corning_96_wellplate_360ul_flat", 2)\n',
    )
    assert "estimatedDuration" not in data
    assert "description" not in data["metadata"]
    equipment = data["requiredEquipment"]
    assert all("slot" not in item for item in equipment["labware"] + equipment["modules"])
    assert [lw["location"] for lw in equipment["labware"]] == [2, 12]
    broken = upload(api, "broken.py", 'metadata = {"apiLevel": "2.11"}\ndef run(ctx):\n    1 / 0\n')
    [error] = broken["errors"]
    assert error["type"] == "ExceptionInProtocolError" and error["lineNumber"] == 3
    assert "fileName" not in error and "exceptionType" not in error

    # a run's error stays hidden, as on 4.7: state "error", nothing else
    session_id = api.create_session(upload(api, "fails_at_run.py", FAILS_AT_RUN)["id"])
    api.wait_for_state(session_id, "loaded")
    api.command(session_id, "protocol.startRun")
    session = api.wait_for_state(session_id, "error")
    assert set(session["details"]) == {"protocolId", "currentState", "events"}


def test_no_session_events_on_the_feed(robot_like: SimulatorHandle, api: Api) -> None:
    frames: list[Any] = []
    with RobotClient(robot_like.url) as client:
        subscriber = NotificationSubscriber(
            client, ["session_events"], on_event=frames.append, start=False
        )
        subscriber.start()
        subscriber.wait_first_attempt(10)
        try:
            session_id = api.create_session(
                upload(
                    api,
                    "quick.py",
                    'metadata = {"apiLevel": "2.11"}\ndef run(ctx):\n    ctx.comment(\'hi\')\n',
                )["id"]
            )
            api.wait_for_state(session_id, "loaded")
            api.command(session_id, "protocol.startRun")
            api.wait_for_state(session_id, "finished")
        finally:
            subscriber.close()
    assert frames == []


def test_a_stop_of_a_paused_session_is_refused_and_recorded(api: Api) -> None:
    session_id = started(api, "slow.py", SLOW)
    api.command(session_id, "protocol.pause")
    api.wait_for_state(session_id, "paused")
    before = len(request_log(api)["requests"])

    cancel = api.command(session_id, "protocol.cancel")
    delete = api.delete(f"/sessions/{session_id}")
    for reply in (cancel, delete):
        assert reply.status_code == 409
        [error] = reply.json()["errors"]
        assert error["id"] == "WouldDeadlock"
        assert "deadlocks robot-server 4.7" in error["detail"]
        assert "Resume the run first" in error["detail"]
    assert api.state(session_id) == "paused", "nothing happened to the session"

    log = request_log(api)
    stops = [e for e in log["requests"][before:] if "sessionState" in e]
    assert [(e["method"], e["sessionState"], e["wouldDeadlock"], e["status"]) for e in stops] == [
        ("POST", "paused", True, 409),
        ("DELETE", "paused", True, 409),
    ]
    assert [e["index"] for e in log["wouldDeadlock"][-2:]] == [e["index"] for e in stops]
    # the way that works on a robot: resume, then cancel
    api.command(session_id, "protocol.resume")
    api.wait_for_state(session_id, "running")
    assert api.command(session_id, "protocol.cancel").status_code == 200
    assert api.state(session_id) == "stopped"


def test_a_cancel_of_a_running_session_holds_the_robot(
    robot_like: SimulatorHandle, api: Api
) -> None:
    session_id = started(api, "slow.py", SLOW)
    cancel_done = threading.Event()
    timings: dict[str, float] = {}

    def cancel() -> None:
        with Api(robot_like.url) as other:
            timings["cancel_sent"] = time.monotonic()
            assert other.command(session_id, "protocol.cancel").status_code == 200
            timings["cancel_answered"] = time.monotonic()
            cancel_done.set()

    thread = threading.Thread(target=cancel)
    thread.start()

    # a request sent while the cancel is being served waits for it, as on 4.7
    def stops() -> list[dict[str, Any]]:
        return [e for e in request_log(api)["requests"] if e.get("sessionId") == session_id]

    wait_until(stops, message="the cancel never reached the robot")
    asked = time.monotonic()
    state = api.state(session_id)
    answered = time.monotonic()
    thread.join(30)
    assert cancel_done.is_set()
    assert state == "stopped", "no request is served before the cancel has ended"
    assert answered >= timings["cancel_answered"] - 0.05
    assert answered - asked > 1.0
    assert timings["cancel_answered"] - timings["cancel_sent"] >= STOP_DELAY - 0.05
    [entry] = stops()
    assert entry["sessionState"] == "running"
    assert entry["blockedFor"] == STOP_DELAY and entry["wouldDeadlock"] is False
    # the simulator's own route is never held, and needs no version header
    assert "wouldDeadlock" in request_log(api)


def test_a_delete_of_a_finished_session_answers_at_once(api: Api) -> None:
    session_id = api.create_session(
        upload(api, "quick.py", 'metadata = {"apiLevel": "2.11"}\ndef run(ctx):\n    pass\n')["id"]
    )
    api.wait_for_state(session_id, "loaded")
    began = time.monotonic()
    assert api.delete(f"/sessions/{session_id}").status_code == 200
    assert time.monotonic() - began < STOP_DELAY
    entry = [e for e in request_log(api)["requests"] if e.get("sessionId") == session_id][-1]
    assert entry["sessionState"] == "loaded" and "blockedFor" not in entry


def test_uploads_over_the_size_bound_are_logged_with_their_413(start_sim: Any) -> None:
    """A body refused for its size is a request the robot answered: the log has it."""
    handle = start_sim(robot_like=True, max_upload_mb=1)
    big = b"# " + b"x" * (2 * 1024 * 1024)

    with Api(handle.url) as api:
        declared = api.post("/protocols", files=[("protocolFile", ("big.py", big))])
        chunked = api.post(
            "/protocols", data=chunked_upload("protocolFile"), headers=CHUNKED_UPLOAD_TYPE
        )
        assert (declared.status_code, chunked.status_code) == (413, 413)
        for reply in (declared, chunked):
            assert reply.json()["errors"][0]["id"] == "PayloadTooLarge"
        posts = [e for e in request_log(api)["requests"] if e["method"] == "POST"]
        assert [(e["path"], e["status"]) for e in posts] == [("/protocols", 413)] * 2
        assert api.get("/protocols").json()["data"] == []
