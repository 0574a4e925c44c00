"""The magics in a real IPython shell against a real ``ot2-sim``: notebooks written cell by cell.

Every test drives ``shell.run_cell(..., store_history=True)`` (so cells have ``In [N]``),
checks the cell's outcome (``error_in_exec``) and what it printed, and checks the robot's
state over plain HTTP (the ``api`` fixture), independently of the code under test.

The protocols here are written for these tests, in the style of a lab notebook: a helper
module cell, a JSON configuration cell, and protocol cells.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from IPython.testing import globalipapp
from IPython.utils.capture import CapturedIO, capture_output

from ot2_notebook.client import AnalysisError, RunError
from ot2_notebook.magics import (
    BundleCheckError,
    CellAnalysisError,
    CellRunError,
    OT2MagicError,
    ProtocolCellError,
)
from tests.conftest import Api, wait_until

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


@dataclass
class Ran:
    """One cell run: IPython's result and everything the cell showed."""

    result: Any
    captured: CapturedIO

    @property
    def ok(self) -> bool:
        return bool(self.result.success)

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    @property
    def count(self) -> int:
        return int(self.result.execution_count)

    @property
    def shown(self) -> str:
        """The cell's outputs as plain text: displays, stdout and stderr."""
        texts = [o.data.get("text/plain", "") for o in self.captured.outputs]
        return "\n".join([*texts, self.captured.stdout, self.captured.stderr])


class Notebook:
    """A real IPython shell with ``ot2_notebook`` loaded, run one cell at a time."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def run(self, source: str, cell_id: str | None = None) -> Ran:
        code = textwrap.dedent(source).strip("\n") + "\n"
        with capture_output() as captured:
            result = self.shell.run_cell(code, store_history=True, cell_id=cell_id)
        return Ran(result, captured)

    def ok(self, source: str, cell_id: str | None = None) -> Ran:
        ran = self.run(source, cell_id)
        assert ran.ok, f"cell failed: {ran.error!r}\n{ran.shown}"
        return ran

    @property
    def magics(self) -> Any:
        from ot2_notebook.magics import _loaded

        return _loaded[id(self.shell)]


def test_shell() -> Any:
    """IPython's test shell (one per process; ``globalipapp`` rebinds ``get_ipython`` to it
    after the first call, hence the attribute lookup at call time)."""
    return globalipapp.get_ipython()


test_shell.__test__ = False  # type: ignore[attr-defined]


def assert_no_traceback(ran: Ran) -> None:
    """The failing cell shows the report only: no traceback, no frame of the extension."""
    text = ran.shown
    assert "Traceback" not in text
    assert 'File "' not in text
    assert "ot2_notebook/magics" not in text and "site-packages" not in text


@pytest.fixture
def notebook(robot_url: str, clean_robot: None) -> Iterator[Notebook]:
    """A fresh extension (empty bundle) in the test shell, connected to the shared simulator;
    unloaded afterwards (closing its panels), and the robot emptied."""
    book = Notebook(test_shell())
    book.ok("%load_ext ot2_notebook")
    book.ok(f"%ot2_connect {robot_url}")
    yield book
    book.ok("%unload_ext ot2_notebook")


def protocols_on(api: Api) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in api.get("/protocols").json()["data"]}


def sessions_on(api: Api) -> list[dict[str, Any]]:
    return list(api.get("/sessions").json()["data"])


# -- cells of a small lab notebook: normalising samples to one concentration ---------------------

HELPER_CELL = '''
%%ot2_support plate_math.py
"""Arithmetic for the normalisation: how much diluent brings a sample to the target."""


def top_up_volume(sample_ul, stock_ng_per_ul, target_ng_per_ul):
    final_ul = sample_ul * stock_ng_per_ul / target_ng_per_ul
    return round(final_ul - sample_ul, 1)


def tip_rack_slot():
    return 1
'''

CONFIG_CELL = """
%%ot2_support normalise.json
{
  "target_ng_per_ul": 10,
  "sample_ul": 20,
  "samples": {"A1": 25, "B1": 40, "C1": 30},
  "diluent_well": "A1",
  "mount": "right"
}
"""

PROTOCOL_CELL = """
%%ot2_protocol normalise {flags}
import json

from plate_math import tip_rack_slot, top_up_volume

metadata = {{"apiLevel": "2.13", "protocolName": "Normalise samples", "author": "tests"}}


def run(ctx):
    with open("normalise.json", encoding="utf-8") as handle:
        plan = json.load(handle)
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", tip_rack_slot())
    samples = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    diluent = ctx.load_labware("nest_12_reservoir_15ml", 3)
    pipette = ctx.load_instrument("p300_single_gen2", plan["mount"], tip_racks=[tips])
    for well, stock in plan["samples"].items():
        volume = top_up_volume(plan["sample_ul"], stock, plan["target_ng_per_ul"])
        pipette.transfer(volume, diluent[plan["diluent_well"]], samples[well])
"""


def test_helper_and_config_cells_with_a_protocol_cell_run_to_finished(
    notebook: Notebook, api: Api
) -> None:
    helper = notebook.ok(HELPER_CELL)
    assert "Support file plate_math.py" in helper.shown
    notebook.ok(CONFIG_CELL)
    ran = notebook.ok(PROTOCOL_CELL.format(flags="--run --wait"))
    assert "EquipmentPanel: Normalise samples" in ran.shown
    panels = [o.data["text/plain"] for o in ran.captured.outputs if "RunPanel" in str(o.data)]
    assert "state: loaded" in panels[0]  # shown once loaded: the same first view every time
    assert "state: finished" in panels[-1]  # re-sent once the run ended

    stored = protocols_on(api)["normalise"]
    assert stored["protocolFile"]["basename"] == "normalise.py"
    assert {f["basename"] for f in stored["supportFiles"]} == {"plate_math.py", "normalise.json"}
    assert stored["errors"] == []
    [session] = sessions_on(api)
    assert session["details"]["protocolId"] == "normalise"
    assert session["details"]["currentState"] == "finished"
    steps = [e for e in session["details"]["events"] if e["source"] == "protocol"]
    assert any("Transferring 30.0 from A1" in (e["params"] or {}).get("text", "") for e in steps)


def test_rerunning_cells_replaces_the_protocol_and_the_support_file(
    notebook: Notebook, api: Api
) -> None:
    notebook.ok(HELPER_CELL, cell_id="helper")
    notebook.ok(CONFIG_CELL, cell_id="config")
    notebook.ok(PROTOCOL_CELL.format(flags=""), cell_id="protocol")
    assert protocols_on(api)["normalise"]["requiredEquipment"]["labware"][0]["slot"] == 1

    # the scientist moves the tip rack: edits the helper cell and re-runs both cells
    moved = notebook.ok(HELPER_CELL.replace("return 1", "return 4"), cell_id="helper")
    assert "(replaces In [" in moved.shown
    notebook.ok(PROTOCOL_CELL.format(flags="--run --wait"), cell_id="protocol")
    notebook.ok(PROTOCOL_CELL.format(flags="--run --wait"), cell_id="protocol")

    on_robot = protocols_on(api)
    assert list(on_robot) == ["normalise"]
    slots = {
        lw["label"]: lw["slot"] for lw in on_robot["normalise"]["requiredEquipment"]["labware"]
    }
    assert slots["opentrons_96_tiprack_300ul"] == 4
    [session] = sessions_on(api)  # the earlier runs' sessions were replaced, not piled up
    assert session["details"]["currentState"] == "finished"
    bundle = notebook.magics.bundle
    assert list(bundle.support) == ["plate_math.py", "normalise.json"]
    assert len(bundle.parts("normalise")) == 1


# -- one protocol written over three cells ---------------------------------------------------------

PART_ONE = """
%%ot2_protocol stamp --part
from opentrons import protocol_api

metadata = {"apiLevel": "2.13", "protocolName": "Stamp a reservoir into a plate"}
"""

PART_TWO = """
%%ot2_protocol stamp --part
def run(ctx: protocol_api.ProtocolContext):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    source = ctx.load_labware("nest_12_reservoir_15ml", 2)
    target = ctx.load_labware("corning_96_wellplate_360ul_flat", 3)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
"""

PART_THREE_FAILS_ON_ROBOT = """
%%ot2_protocol stamp --part
    for well in ("A1", "A2", "A3"):
        pipette.transfer(50, source["A1"], target[well])
    pipette.transfer(50, source["A1"], target["A13"])
"""

PART_THREE_FIXED = PART_THREE_FAILS_ON_ROBOT.replace('target["A13"]', 'target["A12"]')


def test_an_analysis_error_in_the_last_of_three_parts_names_that_cell_and_line(
    notebook: Notebook, api: Api
) -> None:
    first = notebook.ok(PART_ONE)
    assert "stamp.py: part 1 of 1" in first.shown
    notebook.ok(PART_TWO)
    third = notebook.ok(PART_THREE_FAILS_ON_ROBOT)
    assert "stamp.py: part 3 of 3" in third.shown
    assert "stamp" not in protocols_on(api)  # parts are not uploaded on their own

    ran = notebook.run("%ot2_upload stamp")
    error = ran.error
    assert isinstance(error, CellAnalysisError)
    assert isinstance(error, AnalysisError)  # also the client's error, with the stored protocol
    assert error.execution_count == third.count
    assert error.cell_line == 4  # the %% line is line 1 of the cell
    assert error.problems[0].kind == "KeyError"
    report = str(error)
    assert f"In [{third.count}], line 4 (part 3 of 3 of stamp.py, line 11):" in report
    assert '    pipette.transfer(50, source["A1"], target["A13"])' in report
    assert "is on the robot with this error" in report
    assert report in ran.shown  # what the cell shows is the report...
    assert_no_traceback(ran)  # ...and nothing else
    assert protocols_on(api)["stamp"]["errors"][0]["lineNumber"] == 11


def test_a_syntax_error_in_a_part_fails_that_cell_and_leaves_the_robot_alone(
    notebook: Notebook, api: Api
) -> None:
    notebook.ok(PART_ONE)
    notebook.ok(PART_TWO)
    broken = PART_THREE_FIXED.replace(
        'transfer(50, source["A1"], target["A12"])', 'transfer(50 source["A1"], target["A12"])'
    )
    ran = notebook.run(broken)
    error = ran.error
    assert isinstance(error, BundleCheckError)
    assert (error.execution_count, error.cell_line) == (ran.count, 4)
    assert "SyntaxError" in str(error)
    assert "The notebook's bundle and the robot were not changed." in str(error)
    assert '    pipette.transfer(50 source["A1"], target["A12"])' in ran.shown
    assert_no_traceback(ran)
    assert protocols_on(api) == {}
    assert len(notebook.magics.bundle.parts("stamp")) == 2  # the failing cell added nothing

    # the scientist fixes the cell and runs it again (no cell ids here): it becomes part 3
    assert "stamp.py: part 3 of 3." in notebook.ok(PART_THREE_FIXED).shown
    notebook.ok("%ot2_upload stamp")
    assert protocols_on(api)["stamp"]["errors"] == []


def test_rerunning_part_cells_replaces_each_part(notebook: Notebook, api: Api) -> None:
    notebook.ok(PART_ONE, cell_id="one")
    notebook.ok(PART_TWO, cell_id="two")
    notebook.ok(PART_THREE_FAILS_ON_ROBOT, cell_id="three")
    assert isinstance(notebook.run("%ot2_upload stamp").error, CellAnalysisError)

    fixed = notebook.ok(PART_THREE_FIXED, cell_id="three")
    assert "stamp.py: part 3 of 3 (replaces In [" in fixed.shown
    notebook.ok(PART_ONE, cell_id="one")  # re-running an earlier part keeps its place
    assert "stamp.py: part 1 of 3" in notebook.ok(PART_ONE, cell_id="one").shown
    notebook.ok("%ot2_run stamp --wait")
    notebook.ok("%ot2_run stamp --wait")

    parts = notebook.magics.bundle.parts("stamp")
    assert [p.cell.key for p in parts] == ["id:one", "id:two", "id:three"]
    stored = protocols_on(api)
    assert list(stored) == ["stamp"] and stored["stamp"]["errors"] == []
    [session] = sessions_on(api)
    assert session["details"]["currentState"] == "finished"


def test_without_cell_ids_an_unchanged_part_rerun_replaces_itself(notebook: Notebook) -> None:
    notebook.ok(PART_ONE)
    notebook.ok(PART_TWO)
    notebook.ok(PART_TWO)
    notebook.ok(PART_THREE_FIXED)
    notebook.ok(PART_THREE_FIXED)
    assert len(notebook.magics.bundle.parts("stamp")) == 3
    assert "part 3 of 3" in notebook.ok(PART_THREE_FIXED).shown


def test_a_cell_without_part_after_parts_replaces_them(notebook: Notebook) -> None:
    notebook.ok(PART_ONE, cell_id="one")
    notebook.ok(PART_TWO, cell_id="two")
    whole = notebook.ok(
        """
        %%ot2_protocol stamp --no-upload
        metadata = {"apiLevel": "2.13"}

        def run(ctx):
            ctx.comment("one cell now")
        """,
        cell_id="whole",
    )
    assert "stamp.py: the whole protocol (drops the parts from In [" in whole.shown
    assert [p.cell.key for p in notebook.magics.bundle.parts("stamp")] == ["id:whole"]


# -- errors in support cells and files, run errors ------------------------------------------------


def test_an_error_raised_in_a_support_module_names_the_support_cell(
    notebook: Notebook, api: Api
) -> None:
    helper = notebook.ok(
        """
        %%ot2_support volume_rules.py
        def checked(volume_ul, tip_max_ul=300):
            if not 0 < volume_ul <= tip_max_ul:
                raise ValueError(f"{volume_ul} uL does not fit a {tip_max_ul} uL tip")
            return volume_ul
        """
    )
    ran = notebook.run(
        """
        %%ot2_protocol transfer_check
        from volume_rules import checked

        metadata = {"apiLevel": "2.13"}

        def run(ctx):
            ctx.comment(f"moving {checked(450)} uL")
        """
    )
    error = ran.error
    assert isinstance(error, CellAnalysisError)
    assert error.execution_count == helper.count
    assert error.cell_line == 4
    assert f"In [{helper.count}], line 4 (support file volume_rules.py):" in str(error)
    assert "ValueError: 450 uL does not fit a 300 uL tip" in str(error)
    assert "EquipmentPanel" in ran.shown  # the panel, with the error placed, then the report
    assert_no_traceback(ran)
    assert "transfer_check" in protocols_on(api)


def test_a_json_typo_in_a_support_cell_fails_that_cell(notebook: Notebook) -> None:
    ran = notebook.run(
        """
        %%ot2_support layout.json
        {"source": "A1",
         "targets": ["B1", "B2",]}
        """
    )
    assert isinstance(ran.error, BundleCheckError)
    assert f"In [{ran.count}], line 3 (support file layout.json):" in ran.shown
    assert '"targets": ["B1", "B2",]}' in ran.shown
    assert_no_traceback(ran)


def test_support_files_from_disk_travel_with_the_protocol(notebook: Notebook, api: Api) -> None:
    helpers = PROTOCOLS / "dilution_helpers.py"
    settings = PROTOCOLS / "dilution_settings.json"
    notebook.ok(
        f"""
        %%ot2_protocol one_dilution --support {helpers} {settings} --run --wait
        from dilution_helpers import load_settings, with_fresh_tip

        metadata = {{"apiLevel": "2.13"}}

        def run(ctx):
            settings = load_settings("dilution_settings.json")
            tips = ctx.load_labware("opentrons_96_tiprack_300ul", 4)
            plate = ctx.load_labware(settings["plate"], 5)
            pipette = ctx.load_instrument("p300_single_gen2", settings["mount"], tip_racks=[tips])
            with with_fresh_tip(pipette):
                pipette.aspirate(settings["volume"], plate["A1"])
                pipette.dispense(settings["volume"], plate["A2"])
        """
    )
    stored = protocols_on(api)["one_dilution"]
    assert [f["basename"] for f in stored["supportFiles"]] == [helpers.name, settings.name]
    assert sessions_on(api)[0]["details"]["currentState"] == "finished"


def test_a_run_error_with_wait_fails_the_cell_at_its_line(notebook: Notebook, api: Api) -> None:
    ran = notebook.run(
        """
        %%ot2_protocol reader_step --run --wait
        metadata = {"apiLevel": "2.13"}

        def run(ctx):
            ctx.load_labware("opentrons_96_tiprack_300ul", 1)
            if not ctx.is_simulating():
                raise RuntimeError("the plate reader is offline")
        """
    )
    error = ran.error
    assert isinstance(error, CellRunError) and isinstance(error, RunError)
    assert (error.execution_count, error.cell_line) == (ran.count, 7)
    assert "The run of protocol 'reader_step' failed" in str(error)
    assert 'raise RuntimeError("the plate reader is offline")' in str(error)
    assert "RuntimeError: the plate reader is offline" in str(error)
    assert_no_traceback(ran)
    [session] = sessions_on(api)
    assert session["details"]["currentState"] == "error"


PAUSING_CELL = """
%%ot2_protocol hold {flags}
metadata = {{"apiLevel": "2.13"}}

def run(ctx):
    ctx.comment("before the pause")
    ctx.pause("check the plate, then resume")
    ctx.comment("after the pause")
"""


def test_run_returns_while_the_run_goes_on_and_a_running_protocol_is_not_replaced(
    notebook: Notebook, api: Api
) -> None:
    started = notebook.ok(PAUSING_CELL.format(flags="--run"), cell_id="hold")
    assert "RunPanel" in started.shown
    [session] = sessions_on(api)
    # the cell has returned; the run is still going on the robot (it pauses itself)
    api.wait_for_state(session["id"], "paused", timeout=30)

    # The same cell again: the robot holds exactly it, so the cell follows the paused run.
    again = notebook.ok(PAUSING_CELL.format(flags="--run"), cell_id="hold")
    assert "Protocol 'hold' is unchanged on the robot and its run is paused" in again.shown
    assert f"Protocol 'hold' is paused on the robot (session {session['id']}): following" in (
        again.shown
    )
    assert "state: paused (waiting for you)" in again.shown
    assert [s["id"] for s in sessions_on(api)] == [session["id"]]

    # A changed cell would replace the protocol under its own run: refused.
    changed = PAUSING_CELL.replace("after the pause", "after the pause, changed")
    refused = notebook.run(changed.format(flags="--run"), cell_id="hold")
    assert type(refused.error) is OT2MagicError
    assert "is paused on the robot" in str(refused.error)
    assert "nothing was changed" in str(refused.error)
    assert_no_traceback(refused)
    assert api.state(session["id"]) == "paused"
    assert list(protocols_on(api)) == ["hold"]

    notebook.ok("%ot2_cleanup")
    assert protocols_on(api) == {} and sessions_on(api) == []


def test_a_run_is_not_started_while_another_one_is_in_progress(
    notebook: Notebook, api: Api
) -> None:
    notebook.ok(PAUSING_CELL.format(flags="--run"))
    wait_until(lambda: sessions_on(api)[0]["details"]["currentState"] == "paused")
    notebook.ok(HELPER_CELL)
    notebook.ok(CONFIG_CELL)
    ran = notebook.run(PROTOCOL_CELL.format(flags="--run"))
    assert type(ran.error) is OT2MagicError
    report = str(ran.error)
    assert report.startswith("Protocol 'hold' is paused on the robot (session ")
    assert "protocol 'normalise' is on the robot but was not started." in report
    assert_no_traceback(ran)
    assert set(protocols_on(api)) == {"hold", "normalise"}
    assert [s["details"]["protocolId"] for s in sessions_on(api)] == ["hold"]


def test_wait_fails_the_cell_when_the_run_is_cancelled_elsewhere(
    notebook: Notebook, api: Api
) -> None:
    """A scripted notebook waits; someone cancels the run (from the Opentrons App, say)."""

    def cancel_when_paused() -> None:
        session = wait_until(
            lambda: next(
                (s for s in sessions_on(api) if s["details"]["currentState"] == "paused"), None
            )
        )
        reply = api.command(session["id"], "protocol.cancel")
        assert reply.status_code == 200, reply.text

    canceller = threading.Thread(target=cancel_when_paused)
    canceller.start()
    ran = notebook.run(PAUSING_CELL.format(flags="--run --wait"))
    canceller.join(timeout=60)
    assert type(ran.error) is OT2MagicError
    assert "The run of protocol 'hold' was cancelled" in str(ran.error)
    assert "%ot2_run hold" in str(ran.error)
    assert_no_traceback(ran)


def test_cleanup_deletes_what_the_notebook_created_and_nothing_else(
    notebook: Notebook, api: Api
) -> None:
    api.upload("raises.py")  # someone else's protocol on the robot
    notebook.ok(HELPER_CELL)
    notebook.ok(CONFIG_CELL)
    notebook.ok(PROTOCOL_CELL.format(flags="--run --wait"))
    notebook.ok(PAUSING_CELL.format(flags="--run"))
    wait_until(lambda: [s for s in sessions_on(api) if s["details"]["currentState"] == "paused"])
    assert set(protocols_on(api)) == {"raises", "normalise", "hold"}

    ran = notebook.ok("%ot2_cleanup")
    assert "Deleted 2 protocols (normalise, hold) and 2 sessions from the robot." in ran.shown
    assert list(protocols_on(api)) == ["raises"] and sessions_on(api) == []
    assert "Nothing this notebook created" in notebook.ok("%ot2_cleanup").shown
    assert "Deleted 1 protocol (raises)" in notebook.ok("%ot2_cleanup --all").shown
    assert protocols_on(api) == {}


def test_status_shows_the_robot_and_the_notebooks_bundle(notebook: Notebook) -> None:
    helper = notebook.ok(HELPER_CELL)
    notebook.ok(CONFIG_CELL)
    protocol = notebook.ok(PROTOCOL_CELL.format(flags=""))
    shown = notebook.ok("%ot2_status").shown
    assert "RobotPanel" in shown and "normalise" in shown
    assert f"normalise.py from In [{protocol.count}]" in shown
    assert f"support file plate_math.py from In [{helper.count}]" in shown


def test_errors_are_cell_errors_for_nbval(notebook: Notebook) -> None:
    """Every failing magic fails its cell with an exception (what nbval and papermill see)."""
    ran = notebook.run("%ot2_run nowhere_to_be_found")
    assert not ran.ok
    bad_cell = notebook.run("%%ot2_protocol oops\ndef run(ctx):\nreturn\n")
    assert isinstance(bad_cell.error, ProtocolCellError)
