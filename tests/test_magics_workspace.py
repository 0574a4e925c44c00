"""The notebook as a workspace, in a real IPython shell against real ``ot2-sim`` processes:
one upload place managed for you, protocols from files (Python and Protocol Designer JSON),
following a run already under way, several robots, and errors that name the right word.

Each test checks what the cell showed and how it ended, and the robot's state over plain
HTTP (``Api``), independently of the code under test. The kernel-restart and notebook tests
are in ``tests/test_workspace_kernel.py``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ot2_notebook
from ot2_notebook.client import RobotClient, UploadLimitError
from ot2_notebook.magics import CellAnalysisError, RobotRequestError
from ot2_notebook.simulator import SimulatorHandle
from tests import pd_protocols
from tests.conftest import Api, wait_until
from tests.test_magics_workflow import (
    PAUSING_CELL,
    Notebook,
    assert_no_traceback,
    protocols_on,
    sessions_on,
    test_shell,
)

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


def cell(name: str, comment: str, flags: str = "") -> str:
    return textwrap.dedent(
        f"""
        %%ot2_protocol {name} {flags}
        metadata = {{"apiLevel": "2.13", "protocolName": "{comment}"}}

        def run(ctx):
            tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
            plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
            pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
            pipette.transfer(20, plate["A1"], plate["B1"])
            ctx.comment("{comment}")
        """
    )


@pytest.fixture
def book() -> Iterator[Notebook]:
    """The test shell with a fresh extension; unloaded afterwards (closing its panels)."""
    shell = Notebook(test_shell())
    shell.ok("%load_ext ot2_notebook")
    yield shell
    shell.run("%unload_ext ot2_notebook")
    shell.shell.config.pop("OT2Magics", None)


@pytest.fixture
def one_slot(start_sim: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    """A simulated robot that keeps one protocol, as an OT-2 does."""
    return start_sim(analysis_timeout=20)


# -- one upload place, managed for you ---------------------------------------------------------


def test_a_full_robot_makes_room_from_this_notebooks_idle_protocols(
    book: Notebook, one_slot: SimulatorHandle
) -> None:
    book.ok(f"%ot2_connect {one_slot.url}")
    first = book.ok(cell("first", "the first protocol", "--run --wait"))
    assert "state: finished" in first.shown and "Made room" not in first.shown
    second = book.ok(cell("second", "the second protocol", "--run --wait"))
    assert (
        "Made room on the robot (it keeps 1 protocol): removed 'first', uploaded by this "
        "notebook and not in use (with %config OT2Magics.make_room = False the upload fails "
        "instead)." in second.shown
    )
    assert "RunPanel: the second protocol (second)" in second.shown
    assert "state: finished" in second.shown
    with Api(one_slot.url) as api:
        assert list(protocols_on(api)) == ["second"]
        assert [s["details"]["protocolId"] for s in sessions_on(api)] == ["second"]
    again = book.ok("%ot2_run first --wait")  # the first one again: uploaded, room made
    assert "removed 'second'" in again.shown
    assert "RunPanel: the first protocol (first)" in again.shown
    with Api(one_slot.url) as api:
        assert list(protocols_on(api)) == ["first"]
        [session] = sessions_on(api)
        assert session["details"]["currentState"] == "finished"


def test_what_someone_else_uploaded_is_never_removed(
    book: Notebook, one_slot: SimulatorHandle
) -> None:
    with Api(one_slot.url) as api:
        api.upload("raises.py")  # a colleague's protocol, from another notebook
        book.ok(f"%ot2_connect {one_slot.url}")
        ran = book.run(cell("mine", "mine"))
        error = ran.error
        assert isinstance(error, RobotRequestError)
        assert isinstance(error.robot_error, UploadLimitError)
        report = str(error)
        assert "The robot keeps at most 1 protocol; this upload needs one place freed." in report
        assert "  - 'raises': not uploaded by this kernel (another notebook" in report
        assert "%ot2_cleanup --all" in report
        assert "Protocol 'mine' is not on the robot." in report
        assert_no_traceback(ran)
        assert list(protocols_on(api)) == ["raises"]


def test_replacing_a_protocol_of_the_same_name_from_elsewhere_says_so(
    book: Notebook, robot_url: str, api: Api, clean_robot: None
) -> None:
    api.upload("raises.py")
    book.ok(f"%ot2_connect {robot_url}")
    shown = book.ok(cell("raises", "mine now")).shown
    assert (
        "Replaced protocol 'raises' that was on the robot: this kernel had not uploaded it"
    ) in shown
    again = book.ok(cell("raises", "mine again")).shown  # now it is this kernel's
    assert "Replaced protocol" not in again
    assert protocols_on(api)["raises"]["metadata"]["name"] == "mine again"


def test_a_protocol_whose_run_is_in_progress_is_never_removed(
    book: Notebook, one_slot: SimulatorHandle
) -> None:
    book.ok(f"%ot2_connect {one_slot.url}")
    book.ok(PAUSING_CELL.format(flags="--run"))
    with Api(one_slot.url) as api:
        [session] = sessions_on(api)
        api.wait_for_state(session["id"], "paused")
        ran = book.run(cell("next_one", "next"))
        report = str(ran.error)
        assert isinstance(ran.error, RobotRequestError)
        assert (
            f"  - 'hold' (uploaded by this notebook): its run is paused (session "
            f"{session['id']}); let it finish, or cancel it" in report
        )
        assert list(protocols_on(api)) == ["hold"]
        assert api.state(session["id"]) == "paused"


# -- protocols from files -----------------------------------------------------------------------


@pytest.mark.parametrize("schema", [3, 4, 5])
def test_a_protocol_designer_file_uploads_shows_its_equipment_and_runs(
    book: Notebook, robot_url: str, api: Api, clean_robot: None, tmp_path: Path, schema: int
) -> None:
    path = pd_protocols.write(tmp_path / f"pd_transfer_v{schema}.json", schema)
    book.ok(f"%ot2_connect {robot_url}")
    uploaded = book.ok(f"%ot2_upload {path}")
    shown = uploaded.shown
    assert "EquipmentPanel: PD transfer (API 2.8)" in shown
    assert f"protocol: pd_transfer_v{schema} (pd_transfer_v{schema}.json)" in shown
    assert "right: p300_single_gen2" in shown
    # labelled by the designer's names, as robot software 4.7 labels a JSON protocol's labware
    assert "slot 1: Tips (opentrons_96_tiprack_300ul)" in shown
    assert "slot 2: Sample plate (corning_96_wellplate_360ul_flat)" in shown
    stored = protocols_on(api)[f"pd_transfer_v{schema}"]
    assert stored["protocolFile"]["basename"] == path.name and stored["errors"] == []
    ran = book.ok(f"%ot2_run pd_transfer_v{schema} --wait")
    assert "state: finished" in ran.shown
    assert "progress: step 5 of 5" in ran.shown
    [session] = sessions_on(api)
    assert session["details"]["currentState"] == "finished"
    again = book.ok(f"%ot2_run pd_transfer_v{schema} --wait")  # unchanged: not uploaded again
    assert "EquipmentPanel" not in again.shown and "state: finished" in again.shown


def test_a_newer_schema_gets_the_robots_own_refusal(
    book: Notebook, robot_url: str, clean_robot: None, tmp_path: Path
) -> None:
    path = pd_protocols.write(tmp_path / "pd_v6.json", 6)
    book.ok(f"%ot2_connect {robot_url}")
    ran = book.run(f"%ot2_upload {path}")
    assert isinstance(ran.error, CellAnalysisError)
    assert "JSONv6 protocol" in str(ran.error) and "not supported" in str(ran.error)
    assert str(path) in str(ran.error)  # placed at the file
    assert_no_traceback(ran)


def test_a_cell_holds_a_json_protocol_and_a_typo_is_placed_in_it(
    book: Notebook, robot_url: str, api: Api, clean_robot: None
) -> None:
    body = json.dumps(pd_protocols.transfer_protocol(3, name="PD in a cell"), indent=1)
    book.ok(f"%ot2_connect {robot_url}")
    shown = book.ok(f"%%ot2_protocol pd_cell\n{body}").shown
    assert "EquipmentPanel: PD in a cell (API 2.8)" in shown
    assert "protocol: pd_cell (pd_cell.json)" in shown
    assert protocols_on(api)["pd_cell"]["protocolFile"]["basename"] == "pd_cell.json"
    broken = body.replace('"robot": {', '"robot": {,', 1)
    line = broken.splitlines().index(next(x for x in broken.splitlines() if '"robot": {,' in x))
    ran = book.run(f"%%ot2_protocol pd_cell --json\n{broken}")
    error = ran.error
    assert error is not None and type(error).__name__ == "BundleCheckError"
    assert f"In [{ran.count}], line {line + 2} (pd_cell.json):" in str(error)
    assert "JSONDecodeError" in str(error)
    assert protocols_on(api)["pd_cell"]["errors"] == []  # the robot's copy is untouched


def test_a_python_file_with_support_files_from_disk(
    book: Notebook, robot_url: str, api: Api, clean_robot: None
) -> None:
    book.ok(f"%ot2_connect {robot_url}")
    support = " ".join(
        str(PROTOCOLS / n) for n in ("dilution_helpers.py", "dilution_settings.json")
    )
    shown = book.ok(f"%ot2_upload {PROTOCOLS / 'serial_dilution.py'} --support {support}").shown
    assert "EquipmentPanel" in shown
    stored = protocols_on(api)["serial_dilution"]
    assert [f["basename"] for f in stored["supportFiles"]] == [
        "dilution_helpers.py",
        "dilution_settings.json",
    ]
    assert "state: finished" in book.ok("%ot2_run serial_dilution --wait").shown


# -- following what is already on the robot -----------------------------------------------------


def test_run_uses_the_session_already_loaded(
    book: Notebook, robot_url: str, api: Api, clean_robot: None
) -> None:
    book.ok(f"%ot2_connect {robot_url}")
    book.ok(cell("ready", "ready"))
    session_id = api.create_session("ready")  # e.g. made before a kernel restart
    api.wait_for_state(session_id, "loaded")
    connected = book.ok(f"%ot2_connect {robot_url}").shown
    assert "protocol 'ready' (uploaded by this notebook)" in connected
    assert f"session {session_id}: loaded. Follow it with %ot2_run ready." in connected
    ran = book.ok("%ot2_run ready --wait")
    assert f"Using session {session_id} of protocol 'ready', already loaded" in ran.shown
    assert [s["id"] for s in sessions_on(api)] == [session_id]
    assert api.state(session_id) == "finished"


def test_what_a_notebook_made_stays_its_own_across_restarts_and_not_anothers(
    book: Notebook,
    robot_url: str,
    api: Api,
    clean_robot: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OT2_NOTEBOOK_STATE_DIR", str(tmp_path))
    api.upload("raises.py")  # not this notebook's

    def session(workspace: str) -> str:
        book.ok("%unload_ext ot2_notebook")  # the extension's memory goes, as in a restart
        book.ok("%load_ext ot2_notebook")
        book.ok(f"%config OT2Magics.workspace = {workspace!r}")
        return book.ok(f"%ot2_connect {robot_url}").shown

    session("lab/plates.ipynb")
    book.ok(cell("mine", "mine"))
    shown = session("lab/plates.ipynb")
    assert "protocol 'mine' (uploaded by this notebook)" in shown
    assert "protocol 'raises' (not uploaded by this notebook, 1 analysis error(s))" in shown

    shown = session("lab/another.ipynb")
    assert "protocol 'mine' (not uploaded by this notebook)" in shown
    assert "Nothing this notebook created" in book.ok("%ot2_cleanup").shown
    assert set(protocols_on(api)) == {"mine", "raises"}

    session("lab/plates.ipynb")
    assert "Deleted 1 protocol (mine)" in book.ok("%ot2_cleanup").shown
    assert list(protocols_on(api)) == ["raises"]


# -- several robots -------------------------------------------------------------------------------


def test_several_robots_by_name(book: Notebook, start_sim: Callable[..., SimulatorHandle]) -> None:
    left, right = start_sim(analysis_timeout=20), start_sim(analysis_timeout=20)
    first = book.ok(f"%ot2_connect {left.url} --name left").shown
    assert first.startswith(f"Connected robot 'left': ot2-sim at {left.url}")
    book.ok(f"%ot2_connect {right.url} --name right")
    assert ot2_notebook.current_robot().base_url == left.url  # the first one is the default
    assert ot2_notebook.robot("right").base_url == right.url
    assert list(ot2_notebook.robots()) == ["left", "right"]
    book.ok(cell("on_right", "on the right", "--robot right --run --wait"))
    with Api(left.url) as on_left, Api(right.url) as on_right:
        assert protocols_on(on_left) == {}
        assert list(protocols_on(on_right)) == ["on_right"]
        book.ok(cell("on_left", "on the left"))
        assert list(protocols_on(on_left)) == ["on_left"]
        book.ok("%ot2_cleanup --robot right")
        assert protocols_on(on_right) == {} and list(protocols_on(on_left)) == ["on_left"]
    book.ok(f"%ot2_connect {right.url} --name right --default")
    assert ot2_notebook.current_robot().base_url == right.url
    book.ok("%unload_ext ot2_notebook")
    assert ot2_notebook.robots() == {}
    book.ok("%load_ext ot2_notebook")


def test_the_fleet_panel_shows_a_robot_gone_and_keeps_following_the_other(
    book: Notebook, start_sim: Callable[..., SimulatorHandle]
) -> None:
    doomed = start_sim(analysis_timeout=20)
    steady = start_sim(analysis_timeout=20, speed=4)  # slow_steps: 30 x 2 s / 4 = 15 s
    book.ok(f"%ot2_connect {doomed.url} --name doomed")
    book.ok(f"%ot2_connect {steady.url} --name steady")
    book.ok(f"%ot2_run {PROTOCOLS / 'slow_steps.py'} --robot steady")
    shown = book.ok("%ot2_status --all").shown
    assert "FleetPanel: 2 robots" in shown
    panel = book.magics.flow.panels[-1]
    assert type(panel).__name__ == "FleetPanel"

    def running(statuses: dict) -> bool:
        session = statuses["steady"].session
        return (
            statuses["doomed"].reachable is True
            and session is not None
            and (session.state == "running" and session.index >= 2)
        )

    panel.wait_until(running, timeout=60)
    assert "ot2-fleet-reachable" in panel.rows["doomed"]._dom_classes
    doomed.stop()
    gone = panel.wait_until(lambda s: s["doomed"].reachable is False, timeout=10)
    index_when_gone = gone["steady"].session.index
    row = panel.rows["doomed"]
    assert "ot2-fleet-unreachable" in row._dom_classes
    assert "ot2-fleet-reachable" not in row._dom_classes
    assert "unreachable" in row.value and "Cannot reach the robot" in row.value
    panel.wait_until(
        lambda s: s["steady"].session is not None and s["steady"].session.index > index_when_gone,
        timeout=30,
    )
    done = panel.wait_until(
        lambda s: s["steady"].session is not None and s["steady"].session.state == "finished",
        timeout=90,
    )
    assert done["doomed"].reachable is False
    assert "session finished (slow_steps), step 30 of 30" in panel.text()
    assert "doomed (default): unreachable (last known: " in panel.text()
    assert "step 30 of 30" in panel.rows["steady"].value
    panel.close()
    assert panel.threads == []


# -- errors that name the right word ----------------------------------------------------------


@pytest.mark.parametrize("level", ["2.11", "2.15"])
def test_a_misspelt_labware_gets_the_closest_names_and_this_projects_advice(
    book: Notebook, robot_url: str, clean_robot: None, level: str
) -> None:
    book.ok(f"%ot2_connect {robot_url}")
    ran = book.run(
        f"""
%%ot2_protocol typo
metadata = {{"apiLevel": "{level}"}}

def run(ctx):
    ctx.load_labware("corning_96_wellplate_360ul_flt", 1)
"""
    )
    error = ran.error
    assert isinstance(error, CellAnalysisError)
    report = str(error)
    assert f"In [{ran.count}], line 5 (typo.py):" in report
    assert 'Did you mean "corning_96_wellplate_360ul_flat"?' in report
    assert "Opentrons App" not in report
    assert "%%ot2_support my_labware.json" in report


def test_misspelt_pipettes_modules_and_custom_labware(
    book: Notebook, robot_url: str, clean_robot: None
) -> None:
    book.ok(f"%ot2_connect {robot_url}")
    head = '%%ot2_protocol typo\nmetadata = {"apiLevel": "2.13"}\n\ndef run(ctx):\n'
    pipette = book.run(head + '    ctx.load_instrument("p300_singel_gen2", "right")\n')
    assert 'Did you mean "p300_single_gen2"?' in str(pipette.error)
    module = book.run(head + '    ctx.load_module("temperature modul gen2", 3)\n')
    assert 'Did you mean "temperature module gen2"?' in str(module.error)
    definition = json.loads((PROTOCOLS / "ot2nb_6_tuberack_5000ul.json").read_text())
    load_name = definition["parameters"]["loadName"]
    book.ok(f"%%ot2_support my_rack.json\n{json.dumps(definition)}")
    custom = book.run(
        head + f'    ctx.load_labware("{load_name[:-2]}", 3, namespace="custom_beta")\n'
    )
    assert f'Did you mean "{load_name}"?' in str(custom.error)


# -- the Python API under the magics ----------------------------------------------------------


def test_the_robot_registry_without_magics(robot_url: str) -> None:
    client = ot2_notebook.add_robot("spare", robot_url)
    try:
        assert isinstance(client, RobotClient) and ot2_notebook.robot("spare") is client
        with pytest.raises(LookupError) as missing:
            ot2_notebook.robot("nowhere")
        assert "No robot named 'nowhere'" in str(missing.value)
        assert "--name nowhere" in str(missing.value)
    finally:
        from ot2_notebook.client import remove_robot

        remove_robot("spare")
    wait_until(lambda: "spare" not in ot2_notebook.robots())
