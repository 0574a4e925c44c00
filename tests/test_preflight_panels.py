"""The pre-flight check where a notebook shows it: the equipment panel (ok / missing / wrong
per pipette and module) and the magics (``--run`` fails the cell before anything starts).

Real widgets and a real IPython shell against the shared ``ot2-sim`` (default hardware: a
P20 GEN2 on the left, a P300 GEN2 on the right, temperature and magnetic modules GEN2 and a
thermocycler).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ot2_notebook.client import EquipmentMismatchError, RobotClient
from ot2_notebook.magics import OT2MagicError
from ot2_notebook.magics.robotops import CellEquipmentError
from ot2_notebook.widgets import EquipmentPanel, show_equipment
from tests.conftest import Api
from tests.test_magics_workflow import Notebook, test_shell

MISMATCHED = """
metadata = {"apiLevel": "2.11", "protocolName": "Mismatched"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    ctx.load_instrument("p300_multi_gen2", "left", tip_racks=[tips])
    ctx.load_instrument("p300_single", "right", tip_racks=[tips])
    ctx.load_module("magnetic module gen2", 4)
    ctx.load_module("magdeck", 6)
"""


@pytest.fixture
def notebook(robot_url: str, clean_robot: None) -> Iterator[Notebook]:
    book = Notebook(test_shell())
    book.ok("%load_ext ot2_notebook")
    book.ok(f"%ot2_connect {robot_url}")
    yield book
    book.ok("%unload_ext ot2_notebook")


def test_the_panel_shows_the_check_per_pipette_and_module(robot: RobotClient) -> None:
    protocol = robot.upload(("mismatched.py", MISMATCHED))
    panel = show_equipment(protocol, display=False, preflight=True)
    report = panel.preflight
    assert report is not None and not report.ok
    assert [(c.where, c.status) for c in report.checks] == [
        ("left", "wrong"),
        ("right", "ok"),
        ("slot 4", "ok"),
        ("slot 6", "wrong"),
    ]
    pipettes = panel.pipettes_view.value
    assert "ot2-check-wrong" in pipettes and "p20_single_v2.2" in pipettes
    assert "ot2-check-ok" in pipettes and "p300_single_v2.1" in pipettes
    assert "robot lacks equipment" in panel.header.value
    assert panel.preflight_view.layout.display != "none"
    assert "left mount: the protocol asks for p300_multi_gen2" in panel.preflight_view.value
    modules = panel.modules_view.value
    assert "<td>ok</td>" in modules and "<td>wrong: magneticModuleV2 attached</td>" in modules
    text = panel.text()
    assert "  left: p300_multi_gen2 (robot: wrong: p20_single_v2.2 attached)" in text
    assert "  right: p300_single (robot: ok)" in text
    assert "  robot, slot 6: magneticModuleV1: wrong: magneticModuleV2 attached" in text
    assert (
        "  not on the robot: slot 6: the protocol asks for Magnetic Module GEN1 "
        "(magneticModuleV1), but the robot has magneticModuleV2, which does not serve it"
    ) in text
    # a protocol the robot can run shows that too, and no problem box
    fine = robot.upload(
        (
            "fine.py",
            MISMATCHED.replace("p300_multi_gen2", "p20_single_gen2").replace(
                '    ctx.load_module("magdeck", 6)\n', ""
            ),
        ),
        replace=True,
    )
    panel = EquipmentPanel(fine, preflight=robot.preflight(fine))
    assert "robot has its equipment" in panel.header.value
    assert panel.preflight_view.layout.display == "none"
    # without a check the panel is as before: nothing about the robot
    assert "robot" not in EquipmentPanel(fine).text()


def test_run_fails_the_cell_before_anything_starts(notebook: Notebook, api: Api) -> None:
    ran = notebook.run("%%ot2_protocol mismatched --run\n" + MISMATCHED)
    assert not ran.ok
    error = ran.error
    assert isinstance(error, CellEquipmentError)
    assert isinstance(error, EquipmentMismatchError) and isinstance(error, OT2MagicError)
    assert (error.mount, error.wanted, error.attached) == (
        "left",
        "p300_multi_gen2",
        "p20_single_v2.2",
    )
    report = str(error)
    assert report.startswith("Protocol 'mismatched' was not run: the robot does not have what")
    assert (
        "  left mount: the protocol asks for p300_multi_gen2, but p20_single_v2.2 is attached"
        in report
    )
    assert "Nothing was started; protocol 'mismatched' is on the robot." in report
    assert "check_equipment=False" not in report
    # the equipment panel was shown first, with the check
    assert "(robot: wrong: p20_single_v2.2 attached)" in ran.shown
    assert api.get("/sessions").json()["data"] == [], "no session was created"
    assert [p["id"] for p in api.get("/protocols").json()["data"]] == ["mismatched"]
