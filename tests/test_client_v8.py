"""The client on robot software 8 (``/protocols`` + ``/runs``) against a real
``ot2-sim --robot-software 8`` process: the same handles, states, events, errors and tables
as on 4.x, the robot's limits and 409s as errors that say what to do, and live updates over
the simulator's MQTT broker (Debian's mosquitto) or by polling.

What the robot holds is checked over plain HTTP, independently of the client.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ot2_notebook import session_states as states
from ot2_notebook.client import (
    AnalysisError,
    CommandNotAllowedError,
    NotFoundError,
    ProtocolExistsError,
    ProtocolsPrunedWarning,
    RobotClient,
    RobotError,
    RunActionNotAllowedError,
    RunAlreadyActiveError,
    RunCancelledError,
    RunError,
    SessionWatcher,
    StepEvent,
)
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import wait_until

PROTOCOLS = Path(__file__).resolve().parent / "protocols"
SEED = [PROTOCOLS / "helpers.py", PROTOCOLS / "basic_transfer_config.json"]
HEADERS = {"Opentrons-Version": "*"}

SLOW = """metadata = {"apiLevel": "2.20", "protocolName": "Slow steps"}


def run(ctx):
    for index in range(30):
        ctx.delay(seconds=2, msg=f"waiting {index}")
"""

FAILS_IN_RUN = """from checks import check
metadata = {"apiLevel": "2.20"}


def run(ctx):
    ctx.comment("before")
    check(ctx)
"""
CHECKS = """def check(ctx):
    if not ctx.is_simulating():
        raise RuntimeError("the lid is closed")
"""


@pytest.fixture(scope="module")
def sim8() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_software=8, analysis_timeout=60) as handle:
        yield handle


@pytest.fixture(scope="module")
def slow8() -> Iterator[SimulatorHandle]:
    with start(port=0, robot_software=8, speed=5.0, analysis_timeout=60) as handle:
        yield handle


def empty(url: str) -> None:
    """Stop and delete every run, delete every protocol (plain HTTP)."""
    with requests.Session() as http:
        http.headers.update(HEADERS)
        for run in http.get(f"{url}/runs", timeout=30).json()["data"]:
            if run["status"] not in ("stopped", "succeeded", "failed"):
                http.post(f"{url}/runs/{run['id']}/actions", json={"data": {"actionType": "stop"}})
                wait_until(
                    lambda run=run: (
                        http.get(f"{url}/runs/{run['id']}").json()["data"]["status"]
                        in ("stopped", "succeeded", "failed")
                    ),
                    timeout=30,
                )
            http.patch(f"{url}/runs/{run['id']}", json={"data": {"current": False}})
            http.delete(f"{url}/runs/{run['id']}")
        for protocol in http.get(f"{url}/protocols", timeout=30).json()["data"]:
            http.delete(f"{url}/protocols/{protocol['id']}")


@pytest.fixture
def robot(sim8: SimulatorHandle) -> Iterator[RobotClient]:
    with RobotClient(sim8.url, timeout=60) as client:
        yield client
    empty(sim8.url)


@pytest.fixture
def slow_robot(slow8: SimulatorHandle) -> Iterator[RobotClient]:
    with RobotClient(slow8.url, timeout=60) as client:
        yield client
    empty(slow8.url)


def on_robot(url: str, path: str) -> Any:
    reply = requests.get(f"{url}{path}", headers=HEADERS, timeout=30)
    reply.raise_for_status()
    return reply.json()["data"]


# -- which API ------------------------------------------------------------------------------


def test_the_client_learns_the_api_from_health(sim8: SimulatorHandle) -> None:
    with RobotClient(sim8.url) as robot:
        software = robot.software
        assert software.uses_runs and software.simulated and software.major == 8
        health = robot.health()
        assert software.mqtt == (
            health.raw["simulator"]["mqtt"]["host"],
            health.raw["simulator"]["mqtt"]["port"],
        )
        assert robot.transport.headers["Opentrons-Version"] == "4"
        copy = robot.copy()
        assert copy.software == software  # a copy asks nothing again
        copy.close()


# -- protocols ------------------------------------------------------------------------------


def test_the_seed_bundle_uploads_as_one_protocol_with_its_equipment(
    sim8: SimulatorHandle, robot: RobotClient
) -> None:
    protocol = robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
    assert protocol.id == "basic_transfer"
    assert protocol.files == ("basic_transfer.py", "helpers.py", "basic_transfer_config.json")
    assert protocol.errors == () and protocol.stored
    assert protocol.metadata["apiLevel"] == "2.6"
    assert protocol.robot_id is not None and len(protocol.robot_id) == 36
    equipment = protocol.equipment
    assert [(p.mount, p.pipette_name, p.channels) for p in equipment.pipettes] == [
        ("right", "p300_single", 1)
    ]
    slots = {lw.slot: lw.load_name for lw in equipment.labware}
    assert slots == {
        1: "corning_96_wellplate_360ul_flat",
        2: "opentrons_96_tiprack_300ul",
        12: "opentrons_1_trash_1100ml_fixed",
    }
    frame = equipment.to_dataframe()
    assert list(frame["kind"]) == ["pipette", "labware", "labware", "labware"]
    # the robot holds one file: the packed protocol, with the key that names it
    stored = on_robot(sim8.url, f"/protocols/{protocol.robot_id}")
    assert stored["files"] == [{"name": "basic_transfer.py", "role": "main"}]
    assert '"name":"basic_transfer"' in stored["key"]
    # read back by name and by the robot's id, by another client
    with RobotClient(sim8.url) as other:
        again = other.protocol("basic_transfer")
        assert again.files == protocol.files and again.equipment == equipment
        assert other.protocol(protocol.robot_id).id == "basic_transfer"
        assert [p.id for p in other.protocols()] == ["basic_transfer"]


def test_one_name_is_one_protocol_and_replace_swaps_it(
    sim8: SimulatorHandle, robot: RobotClient
) -> None:
    first = robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
    with pytest.raises(ProtocolExistsError) as raised:
        robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
    assert "replace=True" in str(raised.value)
    session = robot.create_session(first.id)
    session.start()
    session.wait_for("finished", timeout=60)
    second = robot.upload(PROTOCOLS / "basic_transfer.py", SEED, replace=True)
    assert second.robot_id != first.robot_id
    ids = [p["id"] for p in on_robot(sim8.url, "/protocols")]
    assert ids == [second.robot_id]
    assert on_robot(sim8.url, "/runs") == []  # the replaced protocol's finished run went too
    robot.delete_protocol("basic_transfer")
    assert on_robot(sim8.url, "/protocols") == []
    with pytest.raises(NotFoundError, match="5 protocols"):
        robot.protocol("basic_transfer")


def test_what_the_robot_refuses_at_upload_comes_back_as_errors_in_the_bundle(
    robot: RobotClient,
) -> None:
    too_new = 'metadata = {"apiLevel": "2.99"}\ndef run(ctx):\n    pass\n'
    with pytest.raises(AnalysisError) as raised:
        robot.upload(("too_new.py", too_new))
    assert raised.value.protocol.stored is False
    assert "2.99" in raised.value.error.description  # type: ignore[union-attr]
    broken = 'metadata = {"apiLevel": "2.20"}\ndef run(ctx)\n    pass\n'
    protocol = robot.upload(("broken.py", broken), [("notes.txt", "x")], raise_on_error=False)
    assert not protocol.stored
    error = protocol.errors[0]
    assert (error.type, error.file, error.line) == ("SyntaxError", "broken.py", 2)
    assert robot.protocols() == []


def test_an_exception_in_a_helper_module_is_placed_in_the_helper(robot: RobotClient) -> None:
    helpers = (
        (PROTOCOLS / "helpers.py")
        .read_text()
        .replace(
            "    with open(name, 'rb') as f:",
            "    raise KeyError(name)\n    with open(name, 'rb') as f:",
        )
    )
    protocol = robot.upload(
        PROTOCOLS / "basic_transfer.py",
        [("helpers.py", helpers), PROTOCOLS / "basic_transfer_config.json"],
        raise_on_error=False,
    )
    error = protocol.errors[0]
    assert (error.file, error.line, error.exception_type) == ("helpers.py", 5, "KeyError")
    at_import = "import json\nLIMIT = 1 / 0\n"
    protocol = robot.upload(
        PROTOCOLS / "basic_transfer.py",
        [("helpers.py", at_import), PROTOCOLS / "basic_transfer_config.json"],
        replace=True,
        raise_on_error=False,
    )
    error = protocol.errors[0]
    assert (error.type, error.file, error.line) == ("ZeroDivisionError", "helpers.py", 2)
    in_protocol = (
        (PROTOCOLS / "basic_transfer.py")
        .read_text()
        .replace("configuration['plate']", "configuration['plates']")
    )
    protocol = robot.upload(
        ("basic_transfer.py", in_protocol), SEED, replace=True, raise_on_error=False
    )
    error = protocol.errors[0]
    assert (error.file, error.line, error.exception_type) == ("basic_transfer.py", 6, "KeyError")


def test_the_robot_keeps_five_unused_protocols_and_the_client_says_so(
    robot: RobotClient,
) -> None:
    for index in range(5):
        robot.upload((f"p{index}.py", 'metadata = {"apiLevel": "2.20"}\ndef run(ctx): pass\n'))
    with pytest.warns(ProtocolsPrunedWarning, match="p0"):
        robot.upload(("p5.py", 'metadata = {"apiLevel": "2.20"}\ndef run(ctx): pass\n'))
    assert sorted(p.id for p in robot.protocols()) == ["p1", "p2", "p3", "p4", "p5"]


# -- runs as sessions -----------------------------------------------------------------------


def test_a_run_is_a_session_from_loaded_to_finished(
    sim8: SimulatorHandle, robot: RobotClient
) -> None:
    protocol = robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
    session = robot.create_session(protocol)
    assert session.state == "loaded" and session.robot_status == "idle"
    assert session.protocol_id == "basic_transfer"
    assert session.allowed_commands == {states.START_RUN, states.CANCEL}
    assert len(session.events) == 8  # the analysis' 4 steps, started and ended
    session.start()
    session.wait_for("finished", timeout=60)
    assert session.robot_status == "succeeded" and session.allowed_commands == frozenset()
    frame = session.events_dataframe()
    run = frame.iloc[frame.index[frame["event"] == "protocol.startRun"][0] :]
    assert list(run["step"].dropna()[::2]) == ["PICK_UP_TIP", "ASPIRATE", "DISPENSE", "DROP_TIP"]
    assert list(run["text"].dropna())[2].startswith("Aspirating 100.0 uL from A1 of Corning")
    assert session.protocol().robot_id == protocol.robot_id
    with pytest.raises(RunActionNotAllowedError) as raised:
        session.start()
    assert "runs once" in str(raised.value) or "accepts no command" in str(raised.value)
    assert [s.id for s in robot.sessions()] == [session.id]
    session.delete()
    assert on_robot(sim8.url, "/runs") == []


def test_run_errors_are_placed_in_the_helper_module(robot: RobotClient) -> None:
    protocol = robot.upload(("fails.py", FAILS_IN_RUN), [("checks.py", CHECKS)])
    session = robot.create_session(protocol.id)
    session.start()
    with pytest.raises(RunError) as raised:
        session.wait_for("finished", timeout=60)
    error = raised.value.error
    assert error is not None
    assert (error.file, error.line, error.exception_type) == ("checks.py", 3, "RuntimeError")
    assert "the lid is closed" in error.description
    assert session.state == "error" and session.robot_status == "failed"


def test_one_current_run_and_the_commands_each_state_allows(
    slow8: SimulatorHandle, slow_robot: RobotClient
) -> None:
    protocol = slow_robot.upload(("slow.py", SLOW))
    session = slow_robot.create_session(protocol.id)
    with pytest.raises(RunActionNotAllowedError) as raised:
        session.pause()
    assert raised.value.state == "loaded"
    assert "start" in raised.value.hint and "cancel" in raised.value.hint
    with pytest.raises(CommandNotAllowedError, match=r"no 'protocol\.startSimulate'"):
        session.start_simulate()
    session.start()
    session.wait_for("running", timeout=30)
    with pytest.raises(RunAlreadyActiveError) as busy:
        slow_robot.create_session(protocol.id)
    assert busy.value.current_run == session.id
    assert f"robot.session('{session.id}').cancel()" in busy.value.hint
    session.pause()
    session.wait_for("paused", timeout=30)
    # deleting a run in progress stops it first, as deleting a 4.x session cancels its run
    final = session.delete()
    assert final.state == "stopped"
    assert on_robot(slow8.url, "/runs") == []


def test_wait_for_a_cancelled_run_says_so(slow_robot: RobotClient) -> None:
    protocol = slow_robot.upload(("slow.py", SLOW))
    session = slow_robot.create_session(protocol.id)
    session.start()
    session.wait_for("running", timeout=30)
    stopper = threading.Timer(0.3, lambda: slow_robot.copy().session(session.id).cancel())
    stopper.start()
    with pytest.raises(RunCancelledError):
        session.wait_for("finished", timeout=60)
    stopper.join()


# -- live updates ---------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str | None, str]] = []
        self.steps: list[StepEvent] = []
        self.errors: list[RobotError] = []

    def watch(self, robot: RobotClient, session_id: str, **options: Any) -> SessionWatcher:
        return SessionWatcher(
            robot,
            session_id,
            on_change=lambda a, b: self.changes.append((a, b)),
            on_step=self.steps.append,
            on_error=self.errors.append,
            **options,
        )


def assert_chain(changes: list[tuple[str | None, str]]) -> None:
    """Every change starts where the one before ended, and none repeats."""
    for (_, before), (after, _) in itertools.pairwise(changes):
        assert after == before, changes
    assert all(a != b for a, b in changes), changes


def test_the_watcher_follows_a_run_over_mqtt(slow_robot: RobotClient) -> None:
    protocol = slow_robot.upload(("slow.py", SLOW))
    session = slow_robot.create_session(protocol.id)
    recorder = Recorder()
    # polls so rare that only MQTT can explain what the watcher sees in time
    watcher = recorder.watch(
        slow_robot, session.id, min_interval=30, max_interval=30, feed_interval=30
    )
    try:
        assert watcher.subscriber is not None and watcher.subscriber.wait_connected(10)
        # the watcher learns of the connection from the subscriber's event, a moment later
        wait_until(lambda: watcher.mode == "feed", timeout=10, message="not on the feed")
        session.start()
        watcher.wait_for("running", 10)
        wait_until(lambda: len(recorder.steps) >= 2, timeout=10, message="no step over MQTT")
        session.pause()
        watcher.wait_for("paused", 10)
        session.resume()
        watcher.wait_for("running", 10)
        session.cancel()
        watcher.wait_for("stopped", 10)
    finally:
        watcher.close()
    assert recorder.changes == [
        (None, "loaded"),
        ("loaded", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "stopped"),
    ]
    starts = [s for s in recorder.steps if s.phase == "start"]
    assert [s.index for s in starts] == list(range(1, len(starts) + 1))
    assert all(s.total == 30 for s in starts)
    assert starts[0].text == "Delaying for 0 minutes and 2.0 seconds. waiting 0"


def test_without_a_broker_the_watcher_polls(tmp_path: Path) -> None:
    with (
        start(port=0, robot_software=8, mqtt_broker="none", analysis_timeout=60) as sim,
        RobotClient(sim.url, timeout=60) as robot,
    ):
        assert robot.software.mqtt is None
        protocol = robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
        session = robot.create_session(protocol.id)
        recorder = Recorder()
        watcher = recorder.watch(robot, session.id)
        try:
            assert watcher.subscriber is None and watcher.mode == "polling"
            # start() waits at most ready_timeout (5 s) for the first look; on a loaded
            # machine it can take longer, and a run over before that look is history to it
            wait_until(lambda: watcher.snapshot is not None, timeout=60, message="no first look")
            session.start()
            watcher.wait_for("finished", 60)
        finally:
            watcher.close()
        assert_chain(recorder.changes)
        assert recorder.changes[0] == (None, "loaded")
        assert recorder.changes[-1][1] == "finished"
        assert [s.step_name for s in recorder.steps if s.phase == "start"][-1] == "DROP_TIP"


def test_the_client_module_does_not_warn_on_plain_use(robot: RobotClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        protocol = robot.upload(PROTOCOLS / "basic_transfer.py", SEED)
        robot.protocols()
        protocol.delete()
