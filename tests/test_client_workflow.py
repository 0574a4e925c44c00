"""RobotClient, Protocol and Session against a real ``ot2-sim`` process: the happy paths.

Uploads with support files from disk and from memory, custom labware, replacing a file or a
whole protocol, a full run with its events, and the kernel's current robot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import ot2_notebook
from ot2_notebook.client import (
    AnalysisError,
    NoCurrentRobotError,
    NotFoundError,
    Protocol,
    RobotClient,
    RobotError,
    Session,
    current_robot,
    protocol_id_for,
    set_current_robot,
)
from ot2_notebook.client.urls import normalize_url
from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS


def upload_dilution(robot: RobotClient) -> Protocol:
    return robot.upload(DILUTION, support=DILUTION_SUPPORT)


def test_health_identifies_a_4x_robot(robot: RobotClient) -> None:
    health = robot.health()
    assert health.api_version.startswith("4.")
    assert health.name
    assert health.maximum_protocol_api_version is not None
    assert health.maximum_protocol_api_version >= (2, 13)


def test_every_request_carries_the_version_header(robot: RobotClient) -> None:
    # The robot refuses new-style routes without it (422), so a successful list proves it
    # was sent; the header is set once on the shared requests session.
    assert robot.protocols() == []
    assert robot.transport.headers["Opentrons-Version"] == "2"


def test_full_workflow_with_support_files(robot: RobotClient) -> None:
    proto = upload_dilution(robot)
    assert proto.id == "serial_dilution"
    assert proto.files == ("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")
    assert proto.errors == ()
    assert proto.metadata["name"] == proto.name == "Serial dilution"
    assert proto.metadata["author"] == "ot2_notebook tests"
    assert proto.metadata["apiLevel"] == "2.11"
    assert proto.estimated_duration is not None and proto.estimated_duration > 0

    pipette = proto.equipment.pipette_on("right")  # dilution_settings.json: "mount": "right"
    assert pipette is not None and pipette.pipette_name == "p300_single_gen2"
    assert {lw.slot for lw in proto.equipment.labware} >= {1, 2, 3, 12}
    table = proto.equipment.to_dataframe()
    assert list(table.columns) == ["kind", "name", "where", "detail", "requested_as"]
    assert (table["kind"] == "pipette").sum() == 1
    assert (table["kind"] == "labware").sum() == len(proto.equipment.labware)

    assert [p.id for p in robot.protocols()] == ["serial_dilution"]
    assert robot.protocol("serial_dilution").files == proto.files

    session = robot.create_session(proto)
    assert isinstance(session, Session)
    assert session.protocol_id == "serial_dilution"
    assert session.state == "stopped"
    assert session.wait_for("loaded", timeout=30) is session
    assert session.allowed_commands == {"protocol.startRun", "protocol.startSimulate"}

    result = session.start()
    assert result.command == "protocol.startRun" and result.status == "executed"
    session.wait_for("finished", timeout=60)
    commands = [e for e in session.events if e.source == "sessionCommand"]
    assert [e.event for e in commands] == ["protocol.startRun"]
    assert commands[0].command_id == result.id
    run_steps = session.events[session.events.index(commands[0]) + 1 :]
    assert run_steps and all(e.source == "protocol" for e in run_steps)
    assert any(e.step_name == "ASPIRATE" and e.text for e in run_steps)

    table = session.events_dataframe()
    assert len(table) == len(session.events)
    assert list(table.columns) == ["timestamp", "source", "event", "step", "command_id", "text"]
    assert table["timestamp"].notna().all()

    assert [s.id for s in robot.sessions()] == [session.id]
    final = session.delete()
    assert final.state == "finished"
    with pytest.raises(NotFoundError):
        robot.session(session.id)
    proto.delete()
    assert robot.protocols() == []


def test_rerun_from_finished_waits_for_the_new_run(robot: RobotClient) -> None:
    session = robot.create_session(upload_dilution(robot))
    session.wait_for("loaded", timeout=30).start()
    session.wait_for("finished", timeout=60)
    first_run = len(session.events)

    second = session.start()
    # A poll right after the command may still show the first run's "finished":
    # wait_for must not take that for the end of the second run.
    session.wait_for("finished", timeout=60)
    ids = [e.command_id for e in session.events]
    assert second.id in ids
    after = session.events[ids.index(second.id) + 1 :]
    assert len(session.events) > first_run
    assert any(e.source == "protocol" for e in after)
    assert after[-1].event.endswith(".end")


def test_simulate_again_returns_to_loaded(robot: RobotClient) -> None:
    session = robot.create_session(upload_dilution(robot))
    session.wait_for("loaded", timeout=30)
    before = len(session.events)
    session.start_simulate()
    session.wait_for("loaded", timeout=30)
    assert len(session.events) > before


def test_cells_upload_from_memory_without_files(robot: RobotClient, tmp_path: Path) -> None:
    protocol = DILUTION.read_text()
    helpers = (PROTOCOLS / "dilution_helpers.py").read_bytes()
    settings = json.loads((PROTOCOLS / "dilution_settings.json").read_text())
    before = set(tmp_path.iterdir())
    proto = robot.upload(
        ("cell_dilution.py", protocol),
        support=[
            ("dilution_helpers.py", helpers),
            ("dilution_settings.json", json.dumps(settings)),
        ],
    )
    assert proto.id == "cell_dilution"
    assert proto.files == ("cell_dilution.py", "dilution_helpers.py", "dilution_settings.json")
    assert proto.errors == ()
    assert set(tmp_path.iterdir()) == before


def test_custom_labware_from_a_support_file(start_sim: Callable[..., SimulatorHandle]) -> None:
    # the protocol's P1000 must be on the robot: one with a P1000 GEN2 on its left mount
    robot = RobotClient(start_sim(left="p1000_single_gen2").url)
    proto = robot.upload(
        PROTOCOLS / "custom_labware.py", support=[PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"]
    )
    assert proto.errors == ()
    custom = [lw for lw in proto.equipment.labware if lw.load_name == "ot2nb_6_tuberack_5000ul"]
    assert {lw.slot for lw in custom} == {1, 3}  # on the deck, and on the module in slot 3
    assert all(lw.is_custom for lw in custom)
    module = proto.equipment.module_in(3)
    assert module is not None and module.type == "temperatureModuleType"
    session = robot.create_session(proto)
    session.wait_for("loaded", timeout=30).start()
    session.wait_for("finished", timeout=60)


def test_replace_uploads_a_new_version_of_the_same_protocol(robot: RobotClient) -> None:
    first = robot.upload(
        (
            "cell.py",
            'metadata = {"apiLevel": "2.13", "protocolName": "v1"}\n'
            "def run(ctx):\n    ctx.comment('one')\n",
        )
    )
    assert first.name == "v1"
    second = robot.upload(
        (
            "cell.py",
            'metadata = {"apiLevel": "2.13", "protocolName": "v2"}\n'
            "def run(ctx):\n    ctx.comment('two')\n",
        ),
        replace=True,
    )
    assert second.name == "v2"
    assert [p.name for p in robot.protocols()] == ["v2"]


def test_replace_file_adds_and_replaces_files(robot: RobotClient) -> None:
    proto = upload_dilution(robot)
    proto.replace_file(("notes.txt", "remember the ice"))
    assert "notes.txt" in proto.support_files
    assert robot.protocol(proto.id).support_files == proto.support_files

    settings = json.loads((PROTOCOLS / "dilution_settings.json").read_text())
    settings["steps"] = 1
    updated = robot.replace_file(proto.id, ("dilution_settings.json", json.dumps(settings)))
    assert updated.files.count("dilution_settings.json") == 1
    assert len(updated.equipment.labware) == len(proto.equipment.labware)

    broken = ("serial_dilution.py", "def run(ctx)\n    pass\n")
    with pytest.raises(AnalysisError) as caught:
        proto.replace_file(broken)
    assert caught.value.error_type == "SyntaxError"
    assert proto.errors and proto.errors[0].type == "SyntaxError"  # refreshed in place
    again = robot.replace_file(proto.id, broken, raise_on_error=False)
    assert again.errors[0].line == 1


def test_analysis_errors_raise_by_default_and_keep_the_protocol(robot: RobotClient) -> None:
    with pytest.raises(AnalysisError) as caught:
        robot.upload(PROTOCOLS / "syntax_error.py")
    error = caught.value
    assert (error.error_type, error.file, error.line) == ("SyntaxError", "syntax_error.py", 3)
    assert error.message
    assert error.protocol.id == "syntax_error"
    assert [p.id for p in robot.protocols()] == ["syntax_error"]  # stored, as on the robot
    assert "syntax_error.py, line 3" in str(error)
    assert "delete_protocol('syntax_error')" in str(error)
    error.protocol.delete()
    assert robot.protocols() == []


def test_analysis_errors_as_data_when_asked(robot: RobotClient) -> None:
    proto = robot.upload(PROTOCOLS / "raises.py", raise_on_error=False)
    assert len(proto.errors) == 1
    error = proto.errors[0]
    assert error.type == "ExceptionInProtocolError"
    assert "volume must be positive" in error.description
    assert error.line == 7
    missing = robot.upload(PROTOCOLS / "missing_import.py", raise_on_error=False)
    assert missing.errors[0].type == "ModuleNotFoundError"


def test_refresh_reads_the_robot_again(robot: RobotClient) -> None:
    proto = upload_dilution(robot)
    robot.replace_file(proto.id, ("extra.csv", "a,b\n1,2\n"))
    assert "extra.csv" not in proto.support_files
    assert "extra.csv" in proto.refresh().support_files


def test_upload_refuses_paths_and_duplicate_names(robot: RobotClient) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        robot.upload(("../evil.py", "x"))
    with pytest.raises(ValueError, match=r"Two files named 'helpers\.py'"):
        robot.upload(("p.py", "x"), support=[("helpers.py", "a"), ("helpers.py", "b")])
    with pytest.raises(TypeError):
        robot.upload(("p.py", 3))  # type: ignore[arg-type]
    assert robot.protocols() == []


def test_settings_and_the_feature_flag(robot: RobotClient) -> None:
    assert robot.settings()["enableHttpProtocolSessions"] is True


def test_wait_for_rejects_unknown_states(robot: RobotClient) -> None:
    session = robot.create_session(upload_dilution(robot))
    with pytest.raises(ValueError, match="done"):
        session.wait_for("done")


def test_protocol_ids_and_urls() -> None:
    assert protocol_id_for("my_protocol.py") == "my_protocol"
    assert protocol_id_for("protocol.ot2.py") == "protocol.ot2"
    assert protocol_id_for("/tmp/x/basic.py") == "basic"
    assert normalize_url("10.0.0.5") == "http://10.0.0.5:31950"
    assert normalize_url("10.0.0.5:8080") == "http://10.0.0.5:8080"
    assert normalize_url("http://robot.local:31950/") == "http://robot.local:31950"
    assert (
        RobotClient("127.0.0.1").notifications_url(["session_events", "hardware_events"])
        == "ws://127.0.0.1:31950/notifications/subscribe?topic=session_events&topic=hardware_events"
    )
    with pytest.raises(ValueError):
        RobotClient("ftp://robot")


def test_current_robot(robot_url: str) -> None:
    set_current_robot(None)
    with pytest.raises(NoCurrentRobotError) as caught:
        current_robot()
    assert isinstance(caught.value, RobotError)
    assert "%ot2_connect" in str(caught.value)
    try:
        chosen = set_current_robot(robot_url)
        assert isinstance(chosen, RobotClient)
        assert ot2_notebook.current_robot() is chosen
        assert current_robot().health().api_version.startswith("4.")
        other = RobotClient(robot_url)
        set_current_robot(other)
        assert current_robot() is other
    finally:
        set_current_robot(None)


def test_top_level_names() -> None:
    assert ot2_notebook.RobotClient is RobotClient
    assert ot2_notebook.Session is Session
    assert ot2_notebook.Protocol is Protocol
    assert ot2_notebook.RobotError is RobotError
    assert ot2_notebook.set_current_robot is set_current_robot
