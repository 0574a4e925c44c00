"""The simulated robot's attached hardware: ``GET /pipettes``, ``GET /modules``, and runs that
fail where a robot's run fails when the protocol needs other instruments.

The shapes are robot software 4.7's (its source, and what the lead measured on the real
4.7.0 server: ``tests/recordings/robot-server-4`` has no capture of these routes). The
instrument rules are those of a robot's hardware controller (4.7's
``hardware_control/controller.py``): a GEN2 pipette serves its GEN1 name, not the other way
round; an empty mount serves nothing; a module serves its own model and the models its
definition declares compatible.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from ot2_notebook.simulator import SimulatorHandle
from ot2_notebook.simulator.cli import build_parser, config_from_args
from tests.conftest import Api
from tests.support.json_protocol import json_transfer

#: GET /pipettes of the real robot-server 4.7.0 with robot-server/simulators/test.json
#: (measured by the lead on this machine, notes of issue 13).
RECORDED_PIPETTES = {
    "left": {
        "model": "p10_single_v1",
        "name": "p10_single",
        "tip_length": 0.0,
        "mount_axis": "z",
        "plunger_axis": "b",
        "id": "123",
    },
    "right": {
        "model": "p300_single_v1",
        "name": "p300_single",
        "tip_length": 0.0,
        "mount_axis": "a",
        "plunger_axis": "c",
        "id": "321",
    },
}
#: An empty mount on the real 4.7.0 server (measured here: a config with no left pipette).
EMPTY_LEFT = {
    "model": None,
    "name": None,
    "tip_length": None,
    "mount_axis": "z",
    "plunger_axis": "b",
    "id": None,
}
#: The keys of one item of GET /modules on the real 4.7.0 server, and of its live data.
MODULE_KEYS = {
    "name",
    "displayName",
    "moduleModel",
    "port",
    "usbPort",
    "serial",
    "model",
    "revision",
    "fwVersion",
    "hasAvailableUpdate",
    "status",
    "data",
}
LIVE_DATA_KEYS = {
    "thermocycler": {
        "lid",
        "lidTarget",
        "lidTemp",
        "currentTemp",
        "targetTemp",
        "holdTime",
        "rampRate",
        "currentCycleIndex",
        "totalCycleCount",
        "currentStepIndex",
        "totalStepCount",
    },
    "tempdeck": {"currentTemp", "targetTemp"},
    "magdeck": {"engaged", "height"},
}

PIPETTE_PROTOCOL = """
metadata = {{"apiLevel": "2.11", "protocolName": "Needs {name} on {mount}"}}


def run(ctx):
    tips = ctx.load_labware("{tips}", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("{name}", "{mount}", tip_racks=[tips])
    pipette.transfer(5, plate["A1"], plate["A2"])
"""

MODULE_PROTOCOL = """
metadata = {{"apiLevel": "2.11", "protocolName": "Needs a {name}"}}


def run(ctx):
    module = ctx.load_module("{name}", {slot})
    ctx.comment("module loaded")
"""


def _tips_for(name: str) -> str:
    volume = int(name[1:].split("_")[0])
    return {10: "opentrons_96_tiprack_20ul", 20: "opentrons_96_tiprack_20ul"}.get(
        volume, "opentrons_96_tiprack_300ul" if volume <= 300 else "opentrons_96_tiprack_1000ul"
    )


def run_to_end(api: Api, file_name: str, source: str | bytes) -> dict[str, Any]:
    """Upload, load, start; the session once it has ended (``finished`` or ``error``)."""
    reply = api.post("/protocols", files=[("protocolFile", (file_name, source))])
    assert reply.status_code == 201, reply.text
    protocol = reply.json()["data"]
    assert protocol["errors"] == [], protocol["errors"]
    session_id = api.create_session(protocol["id"])
    loaded = api.wait_for_state(session_id, "loaded", "error")
    assert loaded["details"]["currentState"] == "loaded", "the load simulation passes"
    assert api.command(session_id, "protocol.startRun").status_code == 200
    return api.wait_for_state(session_id, "finished", "error")


def run_pipette(api: Api, name: str, mount: str) -> dict[str, Any]:
    source = PIPETTE_PROTOCOL.format(name=name, mount=mount, tips=_tips_for(name))
    return run_to_end(api, f"needs_{name}_{mount}.py", source)


def run_steps(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The events after the last ``protocol.startRun``."""
    events = session["details"]["events"]
    start = max(i for i, e in enumerate(events) if e["event"] == "protocol.startRun")
    return events[start + 1 :]


@pytest.fixture(scope="module")
def mixed_robot(start_sim_module: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    """A robot with a GEN1 P10 on the left, a P300 GEN2 on the right, one temperature module
    GEN1 and one magnetic module GEN1."""
    return start_sim_module(
        max_protocols=50,
        hardware={
            "pipettes": {
                "left": "p10_single_v1",
                "right": {"model": "p300_single_v2.0", "id": "P3"},
            },
            "modules": ["temperatureModuleV1", "magneticModuleV1"],
        },
    )


@pytest.fixture
def mixed(mixed_robot: SimulatorHandle) -> Any:
    with Api(mixed_robot.url) as api:
        yield api
        api.clean()


@pytest.fixture(scope="module")
def start_sim_module() -> Any:
    from ot2_notebook.simulator import start

    handles: list[SimulatorHandle] = []

    def factory(**options: Any) -> SimulatorHandle:
        handle = start(port=0, **options)
        handles.append(handle)
        return handle

    yield factory
    for handle in handles:
        handle.stop()


# -- the endpoints -----------------------------------------------------------------------------


def test_default_hardware_suits_the_tutorials(api: Api) -> None:
    pipettes = api.get("/pipettes").json()
    assert pipettes == {
        "left": {
            "model": "p20_single_v2.2",
            "name": "p20_single_gen2",
            "tip_length": 0.0,
            "mount_axis": "z",
            "plunger_axis": "b",
            "id": pipettes["left"]["id"],
        },
        "right": {
            "model": "p300_single_v2.1",
            "name": "p300_single_gen2",
            "tip_length": 0.0,
            "mount_axis": "a",
            "plunger_axis": "c",
            "id": pipettes["right"]["id"],
        },
    }
    assert pipettes["left"]["id"] != pipettes["right"]["id"]
    assert api.get("/pipettes", params={"refresh": "true"}).json() == pipettes
    modules = api.get("/modules").json()["modules"]
    assert [m["moduleModel"] for m in modules] == [
        "temperatureModuleV2",
        "magneticModuleV2",
        "thermocyclerModuleV1",
    ]
    for module in modules:
        assert set(module) == MODULE_KEYS
        assert set(module["data"]) == LIVE_DATA_KEYS[module["name"]]
        assert module["displayName"] == module["name"]
        assert module["usbPort"] == {"hub": None, "port": None}
    assert len({m["serial"] for m in modules}) == 3
    health = api.get("/health").json()
    assert "p300_single_v2.1" in health["simulator"]["hardware"]


def test_the_recorded_robots_preset_answers_as_the_real_server(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    robot = start_sim(hardware="recorded", left="none")
    with Api(robot.url) as api:
        pipettes = api.get("/pipettes").json()
        assert pipettes["right"] == RECORDED_PIPETTES["right"]
        assert pipettes["left"] == EMPTY_LEFT
        modules = api.get("/modules").json()["modules"]
        assert [(m["name"], m["moduleModel"], m["model"]) for m in modules] == [
            ("thermocycler", "thermocyclerModuleV1", "thermocycler_v10"),
            ("tempdeck", "temperatureModuleV1", "temp_deck_v1.1"),
            ("magdeck", "magneticModuleV1", "mag_deck_v1.1"),
        ]
        # legacy routes: a missing version header gets 4.x's {"message": ...}
        reply = requests.get(f"{robot.url}/pipettes", timeout=30)
        assert reply.status_code == 422
        assert reply.json() == {"message": "header.opentrons-version: field required"}
        # and the OpenAPI document describes both answers
        spec = api.get("/openapi.json").json()
        for path in ("/pipettes", "/modules"):
            schema = spec["paths"][path]["get"]["responses"]["200"]["content"]
            assert "$ref" in schema["application/json"]["schema"]


def test_hardware_files_of_both_formats(tmp_path: Path) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text(
        json.dumps(
            {
                "pipettes": {"left": None, "right": {"model": "p300_multi_v2.1", "id": "M1"}},
                "modules": ["magneticModuleV2", {"model": "temperatureModuleV1", "serial": "T1"}],
            }
        )
    )
    config = config_from_args(build_parser().parse_args(["--hardware", str(ours)]))
    assert config.hardware.left is None
    assert (config.hardware.right.model, config.hardware.right.serial) == ("p300_multi_v2.1", "M1")
    assert [(m.model, m.serial) for m in config.hardware.modules] == [
        ("magneticModuleV2", "MDV2-SIM-1"),
        ("temperatureModuleV1", "T1"),
    ]
    # robot-server 4.x's own simulator file (robot-server/simulators/test.json's shape)
    theirs = tmp_path / "test.json"
    theirs.write_text(
        json.dumps(
            {
                "attached_instruments": {
                    "right": {"model": "p300_single_v1", "id": "321", "name": "p300_single"},
                    "left": {"model": "p10_single_v1", "id": "123", "name": "p10_single"},
                },
                "attached_modules": {"thermocycler": [], "tempdeck": [], "magdeck": []},
            }
        )
    )
    config = config_from_args(build_parser().parse_args(["--hardware", str(theirs)]))
    assert config.hardware.pipettes_json() == RECORDED_PIPETTES
    assert [m.model for m in config.hardware.modules] == [
        "thermocyclerModuleV1",
        "temperatureModuleV1",
        "magneticModuleV1",
    ]
    # options on top of a preset
    args = ["--hardware", "empty", "--right", "p1000_single_gen2", "--module", "magneticModuleV1"]
    hardware = config_from_args(build_parser().parse_args(args)).hardware
    assert hardware.describe() == "left empty, right p1000_single_v2.2; modules: magneticModuleV1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--left", "p30_single"], "'p30_single' is not an OT-2 pipette for the left mount"),
        (["--right", "p300_single_v9.9"], "is not an OT-2 pipette for the right mount"),
        (["--module", "heaterShakerModuleV1"], "'heaterShakerModuleV1' is not an OT-2 module"),
        (["--hardware", "nowhere"], "neither a preset (tutorial, recorded, empty) nor a JSON"),
        (["--hardware", "/no/such/file.json"], "cannot read hardware file"),
    ],
)
def test_bad_hardware_options_stop_ot2_sim_with_a_reason(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        config_from_args(build_parser().parse_args(argv))
    assert message in str(stopped.value)


# -- runs that need other instruments ------------------------------------------------------------


def test_a_pipette_the_robot_lacks_fails_the_run_where_the_robot_fails_it(api: Api) -> None:
    session = run_pipette(api, "p300_single_gen2", "left")
    assert session["details"]["currentState"] == "error"
    assert run_steps(session) == [], "the run fails before its first step"
    [error] = session["details"]["errors"]
    assert error["mount"] == "left"
    assert error["wanted"] == "p300_single_gen2"
    assert error["attached"] == "p20_single_v2.2"
    assert error["lineNumber"] == 8 and error["fileName"] == "needs_p300_single_gen2_left.py"
    assert error["description"].startswith(
        "mount LEFT: instrument p300_single_gen2 was requested, but p20_single_v2.2 is attached."
    )
    assert "--left" in error["description"]


@pytest.mark.parametrize(
    ("name", "mount", "outcome", "attached"),
    [
        ("p10_single", "left", "finished", None),  # the P10 GEN1 itself
        ("p20_single_gen2", "left", "error", "p10_single_v1"),  # GEN2 asked, GEN1 there
        ("p300_single", "right", "finished", None),  # a GEN2 serves its GEN1 name
        ("p300_single_gen2", "right", "finished", None),
        ("p300_multi_gen2", "right", "error", "p300_single_v2.0"),
        ("p50_single", "right", "error", "p300_single_v2.0"),
    ],
)
def test_gen1_and_gen2_compatibility_as_the_robot_applies_it(
    mixed: Api, name: str, mount: str, outcome: str, attached: str | None
) -> None:
    session = run_pipette(mixed, name, mount)
    assert session["details"]["currentState"] == outcome
    if outcome == "error":
        [error] = session["details"]["errors"]
        assert (error["mount"], error["wanted"], error["attached"]) == (mount, name, attached)
    else:
        assert [e["event"] for e in run_steps(session)][-1] == "command.TRANSFER.end"


def test_an_empty_mount_serves_nothing(start_sim: Callable[..., SimulatorHandle]) -> None:
    robot = start_sim(right="none")
    with Api(robot.url) as api:
        session = run_pipette(api, "p300_single_gen2", "right")
    assert session["details"]["currentState"] == "error"
    [error] = session["details"]["errors"]
    assert (error["mount"], error["wanted"], error["attached"]) == (
        "right",
        "p300_single_gen2",
        None,
    )
    assert "but no instrument is attached" in error["description"]


@pytest.mark.parametrize(
    ("name", "outcome", "attached"),
    [
        ("temperature module gen2", "finished", None),  # a GEN1 serves a GEN2 request
        ("tempdeck", "finished", None),
        ("magdeck", "finished", None),
        ("magnetic module gen2", "error", "magneticModuleV1"),  # but not for magnets
        ("thermocycler module", "error", None),
    ],
)
def test_modules_as_the_robot_finds_them(
    mixed: Api, name: str, outcome: str, attached: str | None
) -> None:
    slot = 7 if "thermocycler" in name else 4
    source = MODULE_PROTOCOL.format(name=name, slot=slot)
    session = run_to_end(mixed, f"module_{name.replace(' ', '_')}.py", source)
    assert session["details"]["currentState"] == outcome
    if outcome == "error":
        [error] = session["details"]["errors"]
        assert error["attached"] == attached and error["location"] == slot
        assert error["description"].startswith(f"Could not find specified module: {name}")
        assert "mount" not in error
        assert run_steps(session) == []


def test_two_modules_of_a_kind_need_two_attached(mixed: Api) -> None:
    source = """
metadata = {"apiLevel": "2.11"}


def run(ctx):
    ctx.load_module("temperature module", 1)
    ctx.load_module("temperature module", 3)
"""
    session = run_to_end(mixed, "two_temperature_modules.py", source)
    assert session["details"]["currentState"] == "error"
    [error] = session["details"]["errors"]
    assert error["lineNumber"] == 7 and error["location"] == 3
    assert "already in use" in error["description"]


def test_json_protocols_label_labware_by_their_display_names(api: Api) -> None:
    reply = api.post(
        "/protocols", files=[("protocolFile", ("json_transfer.json", json_transfer()))]
    )
    assert reply.status_code == 201, reply.text
    data = reply.json()["data"]
    assert data["errors"] == []
    # as the real 4.7.0 server labels the same file (tried here, on port 31947)
    assert [(lw["label"], lw["location"]) for lw in data["requiredEquipment"]["labware"]] == [
        ("Opentrons 96 Tip Rack 20 µL", 1),
        ("Source Plate", 3),
        ("Trash", 12),
    ]
    assert data["metadata"]["apiLevel"] == "2.8"
    # and a Python protocol's labels too (robot software 4.7's Labware.name)
    source = (
        "metadata = {'apiLevel': '2.11'}\n"
        "def run(ctx):\n"
        "    ctx.load_labware('corning_96_wellplate_360ul_flat', 2, label='Samples')\n"
        "    ctx.load_labware('opentrons_96_tiprack_300ul', 1)\n"
    )
    reply = api.post("/protocols", files=[("protocolFile", ("labelled.py", source))])
    labware = reply.json()["data"]["requiredEquipment"]["labware"]
    assert [(lw["label"], lw["location"]) for lw in labware] == [
        ("opentrons_96_tiprack_300ul", 1),
        ("Samples", 2),
        ("opentrons_1_trash_1100ml_fixed", 12),
    ]


# -- software 8: the same hardware, in robot-server 8.1.0's shapes --------------------------------

RECORDINGS_8 = Path(__file__).resolve().parent / "recordings" / "robot-server-8"


def _schemas_8() -> dict[str, Any]:
    spec = json.loads((RECORDINGS_8 / "06_openapi_spec.json").read_text())["exchanges"][0]
    return dict(spec["response"]["json"]["components"]["schemas"])


def _has_required(item: dict[str, Any], schema: dict[str, Any]) -> None:
    missing = set(schema.get("required", [])) - set(item)
    assert not missing, f"{schema['title']}: missing {missing} in {item}"


def test_software_8_serves_the_same_hardware(start_sim: Callable[..., SimulatorHandle]) -> None:
    robot = start_sim(robot_software=8, mqtt_broker="none", hardware="recorded", right="none")
    schemas = _schemas_8()
    with Api(robot.url) as api:
        pipettes = api.get("/pipettes").json()
        assert pipettes == {
            "left": RECORDED_PIPETTES["left"],
            "right": {**EMPTY_LEFT, "mount_axis": "a", "plunger_axis": "c"},
        }
        instruments = api.get("/instruments").json()
        assert instruments["meta"] == {"cursor": 0, "totalLength": 1}
        [pipette] = instruments["data"]
        _has_required(pipette, schemas["Pipette"])
        assert (pipette["mount"], pipette["instrumentName"], pipette["instrumentModel"]) == (
            "left",
            "p10_single",
            "p10_single_v1",
        )
        assert pipette["serialNumber"] == "123" and pipette["data"]["max_volume"] == 10.0
        modules = api.get("/modules").json()["data"]
        assert [m["moduleModel"] for m in modules] == [
            "thermocyclerModuleV1",
            "temperatureModuleV1",
            "magneticModuleV1",
        ]
        for module, kind in zip(modules, ("Thermocycler", "Temperature", "Magnetic"), strict=True):
            _has_required(module, schemas[f"{kind}Module"])
            _has_required(module["data"], schemas[f"{kind}ModuleData"])
            _has_required(module["usbPort"], schemas["UsbPort"])
        reply = requests.get(f"{robot.url}/pipettes", timeout=30)
        assert reply.status_code == 422 and "message" in reply.json()
