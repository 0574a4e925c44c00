"""``ot2-sim`` on robot software 8 beyond the recordings: API levels, isolation of protocol
code (hangs, exits, crashes), stop as a last resort, cooperative pause, pacing, bounds.

Every test talks HTTP to a real simulator process (``robot_software=8``) running opentrons'
own engine in worker processes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import CHUNKED_UPLOAD_TYPE, chunked_upload, wait_until

VERSION = {"Opentrons-Version": "*"}

MOVES = """requirements = {"robotType": "OT-2", "apiLevel": "2.20"}
metadata = {"protocolName": "moves"}
def run(ctx):
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 1)
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    for _ in range(30):
        pipette.move_to(plate["A1"].top())
        pipette.move_to(plate["H12"].top())
    pipette.drop_tip()
"""


def level_protocol(level: str) -> str:
    """A transfer at ``level``; with a magnetic module (the legacy core's module loading,
    which opentrons 8 breaks on Python 3.11+ without the simulator's shim) up to 2.13."""
    module = level in ("2.0", "2.6", "2.13")
    return f"""metadata = {{"apiLevel": "{level}"}}
def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    {'ctx.load_module("magnetic module gen2", 4)' if module else "pass"}
    pipette.transfer(50, plate["A1"], plate["B1"])
"""


class Robot(requests.Session):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.headers.update(VERSION)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("timeout", 60)
        return super().request(method, f"{self.url}{url!s}", *args, **kwargs)

    def upload(self, text: str, name: str = "protocol.py", expect: int = 201) -> dict[str, Any]:
        reply = self.post("/protocols", files=[("files", (name, text.encode()))])
        assert reply.status_code == expect, reply.text
        return dict(reply.json()["data"])

    def analysis(self, protocol: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        analysis_id = protocol["analysisSummaries"][-1]["id"]
        path = f"/protocols/{protocol['id']}/analyses/{analysis_id}"
        return dict(
            wait_until(
                lambda: (a := self.get(path).json()["data"])["status"] == "completed" and a,
                timeout=timeout,
                message=f"analysis of {protocol['files']} never completed",
            )
        )

    def new_run(self, protocol_id: str | None = None) -> str:
        body = {"data": {"protocolId": protocol_id} if protocol_id else {}}
        reply = self.post("/runs", json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["data"]["id"])

    def act(self, run_id: str, action: str, expect: int = 201) -> requests.Response:
        reply = self.post(f"/runs/{run_id}/actions", json={"data": {"actionType": action}})
        assert reply.status_code == expect, reply.text
        return reply

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/runs/{run_id}").json()["data"])

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 60) -> dict[str, Any]:
        return dict(
            wait_until(
                lambda: (r := self.run(run_id))["status"] in wanted and r,
                timeout=timeout,
                message=lambda: f"run never {wanted}: {self.run(run_id)['status']}",
            )
        )

    def commands(self, run_id: str) -> list[dict[str, Any]]:
        return list(
            self.get(f"/runs/{run_id}/commands", params={"cursor": 0, "pageLength": 1000}).json()[
                "data"
            ]
        )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_software=8, analysis_timeout=8, mqtt_broker="none") as handle:
        yield handle


def _robot_left_empty(handle: SimulatorHandle) -> Iterator[Robot]:
    """A session on ``handle`` that stops and deletes every run and protocol afterwards, so a
    failing test does not leave an active run that fails the next one with a 409."""
    with Robot(handle.url) as session:
        yield session
        for run in session.get("/runs").json()["data"]:
            if run["status"] not in ("idle", "stopped", "failed", "succeeded"):
                session.act(run["id"], "stop")
                session.wait_status(run["id"], "stopped", "failed", "succeeded")
            session.delete(f"/runs/{run['id']}")
        for protocol in session.get("/protocols").json()["data"]:
            session.delete(f"/protocols/{protocol['id']}")


@pytest.fixture
def robot(sim: SimulatorHandle) -> Iterator[Robot]:
    yield from _robot_left_empty(sim)


def test_health_says_software_8_and_the_simulator(robot: Robot) -> None:
    health = robot.get("/health").json()
    assert health["api_version"].startswith("8.")
    assert health["robot_model"] == "OT-2 Standard"
    assert health["simulator"]["robot_software"] == 8
    assert health["simulator"]["mqtt"] is None  # started with mqtt_broker="none"
    assert robot.get("/sessions").json() == {"data": [], "links": None}


@pytest.mark.parametrize("level", ["2.0", "2.6", "2.13", "2.14", "2.20", "2.27"])
def test_python_protocols_of_every_api_level_analyse_and_run(robot: Robot, level: str) -> None:
    protocol = robot.upload(level_protocol(level), f"level_{level.replace('.', '_')}.py")
    analysis = robot.analysis(protocol)
    assert analysis["result"] == "ok", analysis["errors"]
    # the fixed trash is labware up to 2.15; from 2.16 it is an addressable area
    fixed_trash = "fixedTrash" in [lw["id"] for lw in analysis["labware"]]
    assert fixed_trash == (tuple(map(int, level.split("."))) < (2, 16))
    assert [c["commandType"] for c in analysis["commands"]][:1] == ["home"]
    if level in ("2.0", "2.6", "2.13"):
        assert [m["model"] for m in analysis["modules"]] == ["magneticModuleV2"]
    run_id = robot.new_run(protocol["id"])
    robot.act(run_id, "play")
    finished = robot.wait_status(run_id, "succeeded", "failed")
    assert finished["status"] == "succeeded", finished["errors"]


def test_unknown_command_type_lists_the_known_ones(robot: Robot) -> None:
    run_id = robot.new_run()
    reply = robot.post(
        f"/runs/{run_id}/commands", json={"data": {"commandType": "noSuchCommand", "params": {}}}
    )
    assert reply.status_code == 422
    (error,) = reply.json()["errors"]
    assert error["source"] == {"pointer": "/data"}
    assert error["detail"].startswith(
        "No match for discriminator 'commandType' and value 'noSuchCommand' (allowed values: '"
    )
    for known in ("'aspirate'", "'home'", "'waitForResume'", "'comment'"):
        assert known in error["detail"]
    bad_params = robot.post(
        f"/runs/{run_id}/commands", json={"data": {"commandType": "comment", "params": {}}}
    )
    assert bad_params.status_code == 422
    assert bad_params.json()["errors"][0]["source"]["pointer"].startswith("/data/")


def test_an_endless_loop_fails_its_analysis_within_the_timeout(
    robot: Robot, sim: SimulatorHandle
) -> None:
    text = 'metadata = {"apiLevel": "2.20"}\ndef run(ctx):\n    while True:\n        pass\n'
    protocol = robot.upload(text, "loops.py")
    before = time.monotonic()
    # the robot keeps answering while the protocol spins
    assert robot.get("/health", timeout=5).status_code == 200
    analysis = robot.analysis(protocol, timeout=30)
    assert time.monotonic() - before < 25
    (error,) = analysis["errors"]
    assert error["errorType"] == "SimulationTimeout"
    assert "8 s" in error["detail"] and "--analysis-timeout" in error["detail"]


def test_exiting_the_interpreter_fails_the_analysis_not_the_robot(robot: Robot) -> None:
    text = 'import os\nos._exit(3)\nmetadata = {"apiLevel": "2.20"}\ndef run(ctx):\n    pass\n'
    protocol = robot.upload(text, "exits.py")
    analysis = robot.analysis(protocol)
    assert analysis["result"] == "not-ok"
    assert analysis["errors"][0]["errorType"] == "SimulationProcessDied"
    assert "exited with code 3" in analysis["errors"][0]["detail"]
    # a run of it is refused (the protocol does not load), with the reason
    reply = robot.post("/runs", json={"data": {"protocolId": protocol["id"]}})
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["id"] == "ProtocolLoadFailed"
    assert robot.get("/runs").json()["links"] == {}


@pytest.mark.parametrize(
    "first_lines",
    ["    ctx.comment('start')\n", ""],
    ids=["after-a-command", "at-its-first-line"],
)
def test_a_protocol_crashing_its_run_fails_the_run(robot: Robot, first_lines: str) -> None:
    # At its first line the protocol ends its process right after the engine starts the
    # run: the play was accepted all the same (201), and the run then fails.
    text = (
        'import os\nrequirements = {"robotType": "OT-2", "apiLevel": "2.20"}\n'
        f"def run(ctx):\n{first_lines}    if not ctx.is_simulating():\n"
        "        os._exit(5)\n"
    )
    protocol = robot.upload(text, "crashes.py")
    assert robot.analysis(protocol)["result"] == "ok"  # in analysis it simulates
    run_id = robot.new_run(protocol["id"])
    robot.act(run_id, "play")
    failed = robot.wait_status(run_id, "failed")
    assert failed["errors"][-1]["errorType"] == "SimulationProcessDied"
    assert "exited with code 5" in failed["errors"][-1]["detail"]
    robot.act(run_id, "play", expect=409)
    assert robot.delete(f"/runs/{run_id}").status_code == 200


def test_stop_ends_a_protocol_that_never_lets_the_engine_stop(robot: Robot) -> None:
    text = (
        'requirements = {"robotType": "OT-2", "apiLevel": "2.20"}\n'
        "def run(ctx):\n    ctx.comment('spinning')\n    while not ctx.is_simulating():\n"
        "        pass\n"
    )
    protocol = robot.upload(text, "spins.py")
    run_id = robot.new_run(protocol["id"])
    robot.act(run_id, "play")
    wait_until(
        lambda: any(c["commandType"] == "comment" for c in robot.commands(run_id)),
        timeout=30,
        message="the protocol never started",
    )
    before = time.monotonic()
    robot.act(run_id, "stop")
    assert time.monotonic() - before < 2, "stop answers at once"
    stopped = robot.wait_status(run_id, "stopped", timeout=30)
    assert any("did not stop" in e["detail"] for e in stopped["errors"]), stopped["errors"]
    assert robot.get("/health", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def paced() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_software=8, speed=2, mqtt_broker="none") as handle:
        yield handle


@pytest.fixture
def paced_robot(paced: SimulatorHandle) -> Iterator[Robot]:
    yield from _robot_left_empty(paced)


def _durations(commands: list[dict[str, Any]], kind: str) -> list[float]:
    return [
        (
            datetime.fromisoformat(c["completedAt"]) - datetime.fromisoformat(c["startedAt"])
        ).total_seconds()
        for c in commands
        if c["commandType"] == kind and c["status"] == "succeeded"
    ]


def _started(commands: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in commands if c["status"] != "queued"]


def test_pause_holds_a_paced_run_until_play(paced_robot: Robot) -> None:
    robot = paced_robot
    protocol = robot.upload(MOVES, "moves.py")
    run_id = robot.new_run(protocol["id"])
    robot.act(run_id, "play")
    wait_until(
        lambda: sum(c["commandType"] == "moveToWell" for c in robot.commands(run_id)) >= 2,
        timeout=60,
        message="no moves",
    )
    robot.act(run_id, "pause")
    assert robot.run(run_id)["status"] == "paused"
    # cooperative: the command that was running finishes, the next does not start
    wait_until(
        lambda: all(c["status"] != "running" for c in robot.commands(run_id)),
        timeout=10,
        message="the running command never finished",
    )
    held = _started(robot.commands(run_id))
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        now = robot.commands(run_id)
        assert _started(now) == held, "a command started while paused"
        # the protocol's next command may be queued behind the pause, and only that one
        # (robot-server 8.1.0: 15 commands right after the pause, 16 two seconds later,
        # recording 03, note A)
        assert len(now) <= len(held) + 1, [c["status"] for c in now[len(held) :]]
        time.sleep(0.2)
    robot.act(run_id, "pause", expect=409)
    robot.act(run_id, "play")
    wait_until(
        lambda: sum(c["status"] == "succeeded" for c in robot.commands(run_id)) > len(held),
        timeout=30,
        message="the run did not continue after play",
    )
    robot.act(run_id, "stop")
    robot.wait_status(run_id, "stopped")
    moves = _durations(robot.commands(run_id), "moveToWell")
    # paced at robot time / 2: even the shortest move that finished takes about 20 ms
    # (unpaced: well under a millisecond; the one the stop cut short is "failed"); the bound
    # leaves room for the clock's rounding
    assert moves and min(moves) >= 0.01, moves


def test_speed_shortens_waits_too(paced_robot: Robot) -> None:
    robot = paced_robot
    text = (
        'requirements = {"robotType": "OT-2", "apiLevel": "2.20"}\n'
        "def run(ctx):\n    ctx.delay(seconds=2)\n    ctx.comment('done')\n"
    )
    protocol = robot.upload(text, "waits.py")
    run_id = robot.new_run(protocol["id"])
    robot.act(run_id, "play")
    robot.wait_status(run_id, "succeeded")
    (wait,) = _durations(robot.commands(run_id), "waitForDuration")
    assert 0.8 <= wait < 1.8, wait  # 2 s of robot time at speed 2


def test_uploads_are_bounded_and_names_plain(robot: Robot) -> None:
    bad = robot.post("/protocols", files=[("files", ("../escape.py", b"x"))])
    assert bad.status_code == 422
    assert "folder separator" in bad.json()["errors"][0]["detail"]
    # requests sends the line break as %0A (the HTML standard): read back and refused
    broken = robot.post("/protocols", files=[("files", ("two\nlines.py", b"x"))])
    assert broken.status_code == 422
    assert "control or invisible" in broken.json()["errors"][0]["detail"]
    many = [("files", (f"data_{i}.csv", b"a,b\n")) for i in range(70)]
    assert robot.post("/protocols", files=many).status_code == 422
    bad_rtp = robot.post(
        "/protocols",
        files=[("files", ("p.py", level_protocol("2.20").encode()))],
        data={"runTimeParameterValues": "not json"},
    )
    assert bad_rtp.status_code == 422
    assert bad_rtp.json()["errors"][0]["source"] == {"pointer": "/runTimeParameterValues"}


def test_the_command_line_offers_software_8() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ot2_notebook.simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--robot-software" in result.stdout and "--mqtt-broker" in result.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "ot2_notebook.simulator", "--robot-software", "6"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


def test_max_api_level_imitates_robot_software_8_1(start_sim: Any) -> None:
    """``max_api_level="2.20"``: the levels robot software 8.1.0 runs, no more."""
    handle = start_sim(robot_software=8, max_api_level="2.20", mqtt_broker="none")
    with Robot(handle.url) as robot:
        assert robot.get("/health").json()["maximum_protocol_api_version"] == [2, 20]
        refused = robot.post(
            "/protocols", files=[("files", ("new.py", level_protocol("2.21").encode()))]
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["detail"].startswith(
            "API version 2.21 is not supported by this robot software."
        )
        robot.upload(level_protocol("2.20"), "ok.py")


def test_an_upload_over_the_bound_is_refused_with_413(start_sim: Any) -> None:
    handle = start_sim(robot_software=8, max_upload_mb=1, mqtt_broker="none")
    with Robot(handle.url) as robot:
        big = b"# " + b"x" * (2 * 1024 * 1024) + b"\n"
        reply = robot.post("/protocols", files=[("files", ("big.py", big))])
        assert reply.status_code == 413
        (error,) = reply.json()["errors"]
        assert error["errorCode"] == "4000" and "--max-upload-mb" in error["detail"]
        assert reply.headers["opentrons-version"] == "4"
        assert robot.get("/health").status_code == 200


def test_a_chunked_upload_growing_over_the_bound_is_refused_with_413(start_sim: Any) -> None:
    """No Content-Length to refuse at once: the body is counted while it is read."""
    handle = start_sim(robot_software=8, max_upload_mb=1, mqtt_broker="none")

    reply = requests.post(
        handle.url + "/protocols",
        data=chunked_upload("files"),
        headers={**VERSION, **CHUNKED_UPLOAD_TYPE},
        timeout=30,
    )
    assert reply.status_code == 413
    (error,) = reply.json()["errors"]
    assert error["id"] == "PayloadTooLarge" and error["errorCode"] == "4000"
    assert "--max-upload-mb" in error["detail"]
    assert reply.headers["opentrons-version"] == "4"
    with Robot(handle.url) as robot:
        assert robot.get("/protocols").json()["data"] == []
        assert robot.upload(MOVES, "moves.py")["files"][0]["name"] == "moves.py"
