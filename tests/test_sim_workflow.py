"""The documented workflow against a real ot2-sim process, with plain requests and with curl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Api, wait_until

pytestmark = pytest.mark.usefixtures("clean_robot")

DILUTION = ("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")


def test_upload_with_support_files_reports_equipment_and_metadata(api: Api) -> None:
    reply = api.upload(*DILUTION)
    data = reply["data"]
    assert data["id"] == "serial_dilution"
    assert data["protocolFile"] == {"basename": "serial_dilution.py"}
    assert data["supportFiles"] == [
        {"basename": "dilution_helpers.py"},
        {"basename": "dilution_settings.json"},
    ]
    assert data["errors"] == []
    assert data["metadata"]["name"] == "Serial dilution"
    assert data["metadata"]["author"] == "ot2_notebook tests"
    assert data["metadata"]["apiLevel"] == "2.11"
    equipment = data["requiredEquipment"]
    assert equipment["pipettes"] == [
        {
            "mount": "right",
            "requestedAs": "p300_single_gen2",
            "pipetteName": "p300_single_gen2",
            "channels": 1,
        }
    ]
    by_slot = {lw["slot"]: lw for lw in equipment["labware"]}
    # the JSON config chose the plate: proof that the support file was opened
    assert by_slot[2]["label"] == "corning_96_wellplate_360ul_flat"
    assert by_slot[2]["uri"] == "opentrons/corning_96_wellplate_360ul_flat/1"
    assert by_slot[2]["location"] == 2
    assert by_slot[12]["label"] == "opentrons_1_trash_1100ml_fixed"
    assert equipment["labware"][-1]["slot"] == 12, "the fixed trash is listed last"
    assert equipment["modules"] == []
    assert data["estimatedDuration"] > 0
    assert reply["links"]["self"] == {"href": "/protocols/serial_dilution"}

    listed = api.get("/protocols").json()
    assert [p["id"] for p in listed["data"]] == ["serial_dilution"]
    assert api.get("/protocols/serial_dilution").json()["data"] == data


def test_full_session_workflow_runs_to_finished(api: Api) -> None:
    api.upload(*DILUTION)
    session_id = api.create_session("serial_dilution")
    created = api.session(session_id)
    assert created["sessionType"] == "protocol"
    assert created["createParams"] == {"protocolId": "serial_dilution"}
    assert created["details"]["protocolId"] == "serial_dilution"

    loaded = api.wait_for_state(session_id, "loaded")
    load_events = loaded["details"]["events"]
    assert load_events, "the load simulation logs the protocol's steps"
    assert all(e["source"] == "protocol" for e in load_events)
    assert load_events[0]["event"] == "command.PICK_UP_TIP.start"
    assert load_events[0]["params"]["text"].startswith("Picking up tip from A1")
    assert load_events[1]["event"] == "command.PICK_UP_TIP.end"
    assert load_events[1]["params"] is None
    assert load_events[0]["commandId"] == load_events[1]["commandId"] == "1"

    reply = api.command(session_id, "protocol.startRun")
    assert reply.status_code == 200
    command = reply.json()["data"]
    assert command["command"] == "protocol.startRun"
    assert command["status"] == "executed"
    assert command["data"] == {} and command["result"] is None

    finished = api.wait_for_state(session_id, "finished")
    events = finished["details"]["events"]
    run_command = events[len(load_events)]
    assert run_command["source"] == "sessionCommand"
    assert run_command["event"] == "protocol.startRun"
    assert run_command["commandId"] == command["id"]
    run_events = events[len(load_events) + 1 :]
    assert [e["event"] for e in run_events] == [e["event"] for e in load_events]
    # numeric ids keep counting from the load into the run
    last_load_id = max(int(e["commandId"]) for e in load_events)
    assert int(run_events[0]["commandId"]) == last_load_id + 1

    listed = api.get("/sessions").json()
    assert listed["links"] is None
    assert [s["id"] for s in listed["data"]] == [session_id]
    assert api.get("/sessions", params={"session_type": "protocol"}).json()["data"]
    assert api.get("/sessions", params={"session_type": "calibrationCheck"}).json()["data"] == []

    deleted = api.delete(f"/sessions/{session_id}")
    assert deleted.status_code == 200
    assert deleted.json()["data"]["details"]["currentState"] == "finished"
    assert api.get(f"/sessions/{session_id}").status_code == 404
    assert api.delete("/protocols/serial_dilution").status_code == 200
    assert api.get("/protocols").json()["data"] == []


def test_start_simulate_and_run_again_from_finished(api: Api) -> None:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    loaded = api.wait_for_state(session_id, "loaded")
    count = len(loaded["details"]["events"])
    assert api.command(session_id, "protocol.startSimulate").status_code == 200
    # simulate appends its own command event and the protocol's steps, staying loaded
    simulated = wait_until(
        lambda: len((s := api.session(session_id))["details"]["events"]) >= 2 * count + 1 and s,
        message="startSimulate did not log the protocol's steps",
    )
    assert simulated["details"]["currentState"] == "loaded"
    assert simulated["details"]["events"][count]["event"] == "protocol.startSimulate"
    assert api.command(session_id, "protocol.startRun").status_code == 200
    api.wait_for_state(session_id, "finished")
    assert api.command(session_id, "protocol.startRun").status_code == 200
    again = api.wait_for_state(session_id, "finished")
    starts = [e for e in again["details"]["events"] if e["event"] == "protocol.startRun"]
    assert len(starts) == 2
    ids = [int(e["commandId"]) for e in again["details"]["events"] if e["source"] == "protocol"]
    assert ids == sorted(ids), "step ids keep counting across load, simulate and runs"


def test_patch_adds_a_support_file_and_replaces_the_protocol(api: Api) -> None:
    api.upload("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")
    settings = json.loads((EXAMPLES / "dilution_settings.json").read_text())
    settings["plate"] = "nest_96_wellplate_200ul_flat"
    reply = api.patch(
        "/protocols/serial_dilution",
        files={"file": ("dilution_settings.json", json.dumps(settings).encode())},
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert [f["basename"] for f in data["supportFiles"]] == [
        "dilution_helpers.py",
        "dilution_settings.json",
    ]
    labels = {lw["label"] for lw in data["requiredEquipment"]["labware"]}
    assert "nest_96_wellplate_200ul_flat" in labels, "the protocol was analysed again"
    assert data["lastModifiedAt"] > data["createdAt"]

    notes = api.patch("/protocols/serial_dilution", files={"file": ("notes.txt", b"hello")})
    assert [f["basename"] for f in notes.json()["data"]["supportFiles"]][-1] == "notes.txt"

    broken = api.patch(
        "/protocols/serial_dilution",
        files={"file": ("serial_dilution.py", (EXAMPLES / "syntax_error.py").read_bytes())},
    )
    assert broken.status_code == 200
    assert broken.json()["data"]["errors"][0]["type"] == "SyntaxError"
    assert broken.json()["data"]["protocolFile"] == {"basename": "serial_dilution.py"}


def test_session_keeps_working_after_its_protocol_is_deleted(api: Api) -> None:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    api.wait_for_state(session_id, "loaded")
    assert api.delete("/protocols/moves").status_code == 200
    assert api.command(session_id, "protocol.startRun").status_code == 200
    api.wait_for_state(session_id, "finished")


def test_delete_frees_the_id_at_once_and_the_files_follow(start_sim, tmp_path: Path) -> None:
    """A DELETE takes the protocol's folder away before it answers (the same name uploads
    again straight away, ten times over, with its support files), and the deleted files
    are then removed from the disk: the data folder ends up holding only the live
    protocol's folder."""
    data_dir = tmp_path / "robot"
    handle = start_sim(data_dir=data_dir)
    protocols = data_dir / "protocols"
    with Api(handle.url) as api:
        for _ in range(10):
            assert api.upload(*DILUTION)["data"]["errors"] == []
            assert (protocols / "serial_dilution" / "dilution_settings.json").is_file()
            deleted = api.delete("/protocols/serial_dilution")
            assert deleted.status_code == 200, deleted.text
            assert deleted.json()["data"]["id"] == "serial_dilution"
            assert not (protocols / "serial_dilution").exists()
            assert api.get("/protocols/serial_dilution").status_code == 404
        api.upload(*DILUTION)
        wait_until(
            lambda: [p.name for p in protocols.iterdir()] == ["serial_dilution"],
            timeout=30,
            message=lambda: f"left in the store: {sorted(p.name for p in protocols.iterdir())}",
        )
        assert sorted(p.name for p in (protocols / "serial_dilution").iterdir()) == sorted(DILUTION)


def test_second_session_becomes_the_only_active_one(api: Api) -> None:
    api.upload("moves.py")
    first = api.create_session("moves")
    api.wait_for_state(first, "loaded")
    second = api.create_session("moves")
    api.wait_for_state(second, "loaded")
    refused = api.command(first, "protocol.startRun")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"] == (
        f"Session '{first}' is not active. Only the active session can execute commands"
    )
    assert api.delete(f"/sessions/{second}").status_code == 200
    # still not active after the active one is gone, as on the robot
    assert api.command(first, "protocol.startRun").status_code == 403


def test_the_workflow_with_curl(robot_url: str, tmp_path: Path) -> None:
    def curl(*args: str) -> dict:
        out = subprocess.run(
            ["curl", "-sS", "--fail-with-body", "-H", "Opentrons-Version: 2", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return json.loads(out)

    files = [f"supportFiles=@{EXAMPLES / name}" for name in DILUTION[1:]]
    uploaded = curl(
        "-F",
        f"protocolFile=@{EXAMPLES / DILUTION[0]}",
        *[arg for f in files for arg in ("-F", f)],
        f"{robot_url}/protocols",
    )
    assert uploaded["data"]["errors"] == []
    body = {"data": {"sessionType": "protocol", "createParams": {"protocolId": "serial_dilution"}}}
    session = curl(
        "-H", "Content-Type: application/json", "-d", json.dumps(body), f"{robot_url}/sessions"
    )["data"]
    url = f"{robot_url}/sessions/{session['id']}"
    wait_until(lambda: curl(url)["data"]["details"]["currentState"] == "loaded")
    start = {"data": {"command": "protocol.startRun", "data": {}}}
    curl("-H", "Content-Type: application/json", "-d", json.dumps(start), f"{url}/commands/execute")
    wait_until(lambda: curl(url)["data"]["details"]["currentState"] == "finished")
    curl("-X", "DELETE", url)
    curl("-X", "DELETE", f"{robot_url}/protocols/serial_dilution")
