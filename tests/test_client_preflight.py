"""Pre-flight: the client compares a protocol's equipment with the robot's attached hardware
before a run starts, by the same rules the robot applies when the run loads instruments.

The rules are checked three ways: as pure functions on hand-made data; against the
simulator's runs on one mixed robot (a protocol the pre-flight passes runs, one it fails
fails, for each pipette of a table, so client and robot agree); and end to end, where a
protocol needing a pipette the robot lacks is stopped before ``startRun`` is sent, naming
the mount, on the default and the robot-like simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ot2_notebook.client import (
    AttachedEquipment,
    Equipment,
    EquipmentMismatchError,
    RobotClient,
    RunError,
)
from ot2_notebook.client.preflight import MISSING, OK, WRONG, check_equipment
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import Api

NEEDS = """
metadata = {{"apiLevel": "2.11", "protocolName": "Needs {name}"}}


def run(ctx):
    tips = ctx.load_labware("{tips}", 1)
    ctx.load_instrument("{name}", "{mount}", tip_racks=[tips])
    ctx.comment("loaded")
"""


def attached(left: str | None, right: str | None, *modules: str) -> AttachedEquipment:
    def pipette(model: str | None) -> dict[str, str | None]:
        return {"model": model, "name": None}

    return AttachedEquipment.from_json(
        {"left": pipette(left), "right": pipette(right)},
        {
            "modules": [
                {"moduleModel": m, "name": "x", "serial": str(i)} for i, m in enumerate(modules)
            ]
        },
    )


def needs(
    pipettes: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    modules: tuple[tuple[str, int], ...] | list[tuple[str, int]] = (),
) -> Equipment:
    types = {"m": "magneticModuleType", "t": "temperatureModuleType", "h": "thermocyclerModuleType"}
    return Equipment.from_json(
        {
            "pipettes": [
                {"mount": mount, "requestedAs": name, "pipetteName": name, "channels": 1}
                for mount, name in pipettes
            ],
            "labware": [],
            "modules": [
                {"type": types[model[0]], "model": model, "location": slot}
                for model, slot in modules
            ],
        }
    )


# -- pure ---------------------------------------------------------------------------------------


def test_pipettes_are_judged_by_the_robots_rules() -> None:
    robot = attached("p10_single_v1.5", "p300_single_v2.1")
    report = check_equipment("p", needs([("left", "p10_single"), ("right", "p300_single")]), robot)
    assert report.ok and [c.status for c in report.checks] == [OK, OK]
    assert report.checks[1].describe() == "right mount: p300_single: p300_single_v2.1 serves it"

    report = check_equipment("p", needs([("left", "p20_single_gen2")]), robot)
    [check] = report.problems
    assert (check.status, check.mount, check.wanted, check.attached) == (
        WRONG,
        "left",
        "p20_single_gen2",
        "p10_single_v1.5",
    )
    assert check.describe() == (
        "left mount: the protocol asks for p20_single_gen2, but p10_single_v1.5 is attached"
    )
    empty = check_equipment("p", needs([("left", "p20_single_gen2")]), attached(None, None))
    assert empty.problems[0].status == MISSING
    assert empty.problems[0].describe().endswith("but nothing is attached")


def test_a_pipette_model_newer_than_these_tables_is_judged_by_its_name() -> None:
    robot = AttachedEquipment.from_json(
        {
            "left": {"model": None},
            "right": {"model": "p300_single_v2.9", "name": "p300_single_gen2"},
        },
        {"modules": []},
    )
    report = check_equipment("p", needs([("right", "p300_single")]), robot)
    assert report.ok


def test_modules_are_judged_by_the_robots_rules() -> None:
    robot = attached(None, None, "temperatureModuleV1", "magneticModuleV1")
    report = check_equipment(
        "p",
        needs(
            modules=[
                ("magneticModuleV2", 4),
                ("temperatureModuleV2", 1),
                ("temperatureModuleV1", 3),
                ("thermocyclerModuleV1", 7),
            ]
        ),
        robot,
    )
    statuses = [(c.where, c.status, c.attached, c.in_use) for c in report.checks]
    assert statuses == [
        ("slot 1", OK, "temperatureModuleV1", False),  # a GEN1 serves a GEN2 request
        ("slot 3", MISSING, None, True),  # but only one of them
        ("slot 4", WRONG, "magneticModuleV1", False),  # not for magnets
        ("slot 7", MISSING, None, False),
    ]
    texts = [c.describe() for c in report.problems]
    assert texts == [
        "slot 3: the protocol asks for Temperature Module GEN1 (temperatureModuleV1), but every "
        "attached one already serves another module of the protocol",
        "slot 4: the protocol asks for Magnetic Module GEN2 (magneticModuleV2), but the robot has "
        "magneticModuleV1, which does not serve it",
        "slot 7: the protocol asks for Thermocycler Module GEN1 (thermocyclerModuleV1), but none "
        "is attached",
    ]


# -- the client and the simulated robot agree -------------------------------------------------


@pytest.fixture(scope="module")
def mixed_robot() -> Iterator[SimulatorHandle]:
    hardware = {"pipettes": {"left": "p10_single_v1", "right": "p300_single_v2.0"}, "modules": []}
    with start(port=0, hardware=hardware, max_protocols=50) as handle:
        yield handle


@pytest.mark.parametrize(
    ("name", "mount"),
    [
        ("p10_single", "left"),
        ("p20_single_gen2", "left"),
        ("p300_single", "right"),
        ("p300_single_gen2", "right"),
        ("p300_multi_gen2", "right"),
        ("p20_single_gen2", "right"),
    ],
)
def test_the_client_predicts_what_the_robot_runs(
    mixed_robot: SimulatorHandle, name: str, mount: str
) -> None:
    tips = (
        "opentrons_96_tiprack_20ul"
        if name.startswith(("p10", "p20"))
        else ("opentrons_96_tiprack_300ul")
    )
    with RobotClient(mixed_robot.url) as robot:
        protocol = robot.upload(
            (f"needs_{name}_{mount}.py", NEEDS.format(name=name, mount=mount, tips=tips))
        )
        report = robot.preflight(protocol)
        session = robot.create_session(protocol).wait_for("loaded")
        session.start(check_equipment=False)
        ended = session.wait_for(("finished", "error"))
        assert (ended.state == "finished") == report.ok, report.text()
        session.delete()
        protocol.delete()


# -- end to end -------------------------------------------------------------------------------


def _mismatch_is_stopped_before_the_run(robot: RobotClient) -> None:
    source = NEEDS.format(name="p300_single_gen2", mount="left", tips="opentrons_96_tiprack_300ul")
    protocol = robot.upload(("wrong_mount.py", source), replace=True)
    session = robot.create_session(protocol).wait_for("loaded")
    with pytest.raises(EquipmentMismatchError) as stopped:
        session.start()
    error = stopped.value
    assert (error.mount, error.wanted, error.attached) == (
        "left",
        "p300_single_gen2",
        "p20_single_v2.2",
    )
    text = str(error)
    assert "The robot does not have what protocol 'wrong_mount' needs" in text
    assert (
        "left mount: the protocol asks for p300_single_gen2, but p20_single_v2.2 is attached"
        in text
    )
    assert "--left" in text and "robot.attached()" in text
    assert session.refresh().state == "loaded", "nothing was started"
    assert all(e.event != "protocol.startRun" for e in session.events)
    session.delete()


def test_default_mode_stops_a_mismatch_before_the_run(robot: RobotClient) -> None:
    _mismatch_is_stopped_before_the_run(robot)


def test_robot_like_mode_stops_a_mismatch_before_the_run(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    handle = start_sim(robot_like=True)
    with RobotClient(handle.url) as robot:
        _mismatch_is_stopped_before_the_run(robot)
        with Api(handle.url) as api:
            log = api.get("/simulator/requests").json()["requests"]
        assert any(e["path"] == "/pipettes" for e in log) and any(
            e["path"] == "/modules" for e in log
        )
        assert not any(e["path"].endswith("/commands/execute") for e in log), "no command sent"

        # started anyway: the robot fails the run and, being 4.7-like, does not say why;
        # the client explains it from the attached hardware
        protocol = robot.protocol("wrong_mount")
        session = robot.create_session(protocol).wait_for("loaded")
        session.start(check_equipment=False)
        with pytest.raises(RunError) as failed:
            session.wait_for("finished")
        assert failed.value.error is None
        assert failed.value.equipment is not None
        assert "robot software 4.x hides run errors" in str(failed.value)
        assert "left mount: the protocol asks for p300_single_gen2" in str(failed.value)


def test_attached_equipment_as_the_client_reads_it(robot: RobotClient) -> None:
    equipment = robot.attached()
    assert (equipment.left.model, equipment.left.name) == ("p20_single_v2.2", "p20_single_gen2")
    assert equipment.right.name == "p300_single_gen2" and equipment.right.attached
    assert [m.model for m in equipment.modules] == [
        "temperatureModuleV2",
        "magneticModuleV2",
        "thermocyclerModuleV1",
    ]


def test_a_software_8_robots_hardware_is_read_the_same(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    """Robot software 5+ answers ``GET /modules`` as ``{"data": [...]}`` with ``serialNumber``
    and ``moduleType`` (the real 8.1.0 server does so for ``Opentrons-Version: 3``; for 2 it
    answers as 4.x: checked by hand against it)."""
    handle = start_sim(robot_software=8, mqtt_broker="none", hardware="recorded")
    with RobotClient(handle.url) as robot:
        equipment = robot.attached()
        assert (equipment.left.model, equipment.right.model) == ("p10_single_v1", "p300_single_v1")
        assert [(m.model, bool(m.serial), bool(m.name)) for m in equipment.modules] == [
            ("thermocyclerModuleV1", True, True),
            ("temperatureModuleV1", True, True),
            ("magneticModuleV1", True, True),
        ]
