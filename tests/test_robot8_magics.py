"""The magics on both kinds of robot, in a real IPython shell against real ``ot2-sim``
processes: robot software 4 (protocol sessions) and robot software 8 (``/protocols`` +
``/runs``, where the helper module and the JSON configuration travel embedded in one packed
protocol file).

The seed example is written as a notebook would: its helper module and its configuration in
``%%ot2_support`` cells, the protocol in a ``%%ot2_protocol`` cell. What the robot did is
checked over plain HTTP, independently of the client under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from IPython.core.error import UsageError

from ot2_notebook.magics import CellAnalysisError, CellRunError
from ot2_notebook.simulator import SimulatorHandle, start
from tests.test_magics_workflow import Notebook, Ran, test_shell

PROTOCOLS = Path(__file__).resolve().parent / "protocols"
HELPERS = (PROTOCOLS / "helpers.py").read_text()
CONFIG = (PROTOCOLS / "basic_transfer_config.json").read_text()
PROTOCOL = (PROTOCOLS / "basic_transfer.py").read_text()

#: The seed's helper with a check that fails in load_config: its line 5 (the cell's line 6).
BAD_HELPERS = HELPERS.replace(
    "    with open(name, 'rb') as f:",
    "    raise ValueError('no configuration named ' + name)\n    with open(name, 'rb') as f:",
)
assert BAD_HELPERS.splitlines()[4].strip().startswith("raise ValueError")


@pytest.fixture(scope="module", params=[4, 8], ids=["software4", "software8"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorHandle]:
    software = int(request.param)
    limits = {"max_protocols": 10} if software == 4 else {}
    with start(port=0, robot_software=software, analysis_timeout=60, **limits) as handle:
        handle.software = software  # type: ignore[attr-defined]
        yield handle


@pytest.fixture
def notebook(sim: SimulatorHandle) -> Iterator[Notebook]:
    book = Notebook(test_shell())
    book.ok("%load_ext ot2_notebook")
    book.ok(f"%ot2_connect {sim.url}")
    yield book
    book.ok("%ot2_cleanup --all")
    book.ok("%unload_ext ot2_notebook")


def get(sim: SimulatorHandle, path: str) -> Any:
    version = "*" if sim.software == 8 else "2"  # type: ignore[attr-defined]
    reply = requests.get(f"{sim.url}{path}", headers={"Opentrons-Version": version}, timeout=30)
    reply.raise_for_status()
    return reply.json()["data"]


def seed_cells(book: Notebook, helpers: str = HELPERS) -> tuple[Ran, Ran]:
    helper = book.ok(f"%%ot2_support helpers.py\n{helpers}", cell_id="helpers")
    config = book.ok(f"%%ot2_support basic_transfer_config.json\n{CONFIG}", cell_id="config")
    return helper, config


def test_the_seed_example_as_magics_runs_to_completion(
    sim: SimulatorHandle, notebook: Notebook
) -> None:
    seed_cells(notebook)
    ran = notebook.ok(f"%%ot2_protocol basic_transfer --run --wait\n{PROTOCOL}", "protocol")
    shown = ran.shown
    assert "EquipmentPanel: basic_transfer (API 2.6)" in shown
    files = "basic_transfer.py + helpers.py, basic_transfer_config.json"
    assert f"protocol: basic_transfer ({files})" in shown
    assert "right: p300_single" in shown
    assert "slot 1: corning_96_wellplate_360ul_flat" in shown
    assert "slot 2: opentrons_96_tiprack_300ul" in shown
    assert "state: finished" in shown and "progress: step 4 of 4" in shown
    if sim.software == 8:  # type: ignore[attr-defined]
        protocols = get(sim, "/protocols")
        assert len(protocols) == 1
        # one packed file: robot software 8 takes every .py as a protocol of its own
        assert protocols[0]["files"] == [{"name": "basic_transfer.py", "role": "main"}]
        runs = get(sim, "/runs")
        assert [r["status"] for r in runs] == ["succeeded"]
        assert runs[0]["protocolId"] == protocols[0]["id"]
        commands = get(sim, f"/runs/{runs[0]['id']}/commands?pageLength=100")
        kinds = [c["commandType"] for c in commands]
        assert kinds[-4:] == ["pickUpTip", "aspirate", "dispense", "dropTip"]
    else:
        sessions = get(sim, "/sessions")
        assert [s["details"]["currentState"] for s in sessions] == ["finished"]
        stored = get(sim, "/protocols/basic_transfer")
        assert [f["basename"] for f in stored["supportFiles"]] == [
            "helpers.py",
            "basic_transfer_config.json",
        ]


def test_an_analysis_error_in_a_helper_cell_points_at_that_cell_and_line(
    sim: SimulatorHandle, notebook: Notebook
) -> None:
    helper, _ = seed_cells(notebook, BAD_HELPERS)
    ran = notebook.run(f"%%ot2_protocol basic_transfer\n{PROTOCOL}", "protocol")
    assert not ran.ok
    error = ran.error
    assert isinstance(error, CellAnalysisError)
    assert error.execution_count == helper.count
    assert error.cell_line == 6  # the body's line 5, below the %%ot2_support line
    assert error.problems[0].kind == "ValueError"
    assert "no configuration named basic_transfer_config.json" in error.problems[0].message
    report = str(error)
    assert f"In [{helper.count}], line 6 (support file helpers.py):" in report
    assert "raise ValueError('no configuration named ' + name)" in report
    # the equipment panel shown before the cell failed places it in the same cell
    assert f"error: In [{helper.count}], line 6: ValueError" in ran.shown


def test_an_error_in_the_protocol_cell_points_at_its_line(
    sim: SimulatorHandle, notebook: Notebook
) -> None:
    seed_cells(notebook)
    broken = PROTOCOL.replace(
        "    transfers = configuration['transfers']",
        "    transfers = configuration['transfer_list']",
    )
    ran = notebook.run(f"%%ot2_protocol basic_transfer\n{broken}", "protocol")
    error = ran.error
    assert isinstance(error, CellAnalysisError), ran.shown
    assert error.execution_count == ran.count
    line = broken.splitlines().index("    transfers = configuration['transfer_list']") + 2
    assert error.cell_line == line
    assert error.problems[0].kind == "KeyError"


def test_a_run_error_in_a_helper_cell_points_at_that_cell_and_line(
    sim: SimulatorHandle, notebook: Notebook
) -> None:
    """A helper that fails only in the real run (``ctx.is_simulating()`` is ``False`` there
    on both robots at API level 2.20): the run's error is placed in the helper cell."""
    helper = notebook.ok(
        """
        %%ot2_support checks.py
        def check_robot(ctx):
            if not ctx.is_simulating():
                raise RuntimeError("the plate is missing")
        """,
        cell_id="checks",
    )
    ran = notebook.run(
        """
        %%ot2_protocol checked --run --wait
        from checks import check_robot
        metadata = {"apiLevel": "2.20"}

        def run(ctx):
            ctx.comment("start")
            check_robot(ctx)
        """,
        cell_id="checked",
    )
    error = ran.error
    assert isinstance(error, CellRunError), ran.shown
    assert error.execution_count == helper.count
    assert error.cell_line == 4
    assert "the plate is missing" in str(error)


def test_connect_simulate_robot_software_8_starts_a_software_8_robot() -> None:
    book = Notebook(test_shell())
    book.ok("%load_ext ot2_notebook")
    try:
        with pytest.raises(UsageError, match="--robot-software applies to --simulate only"):
            book.shell.run_line_magic("ot2_connect", "http://127.0.0.1:9 --robot-software 8")
        ran = book.ok("%ot2_connect --simulate --robot-software 8")
        assert "protocols and runs API" in ran.shown
        assert "live updates over MQTT" in ran.shown
        import ot2_notebook

        robot = ot2_notebook.current_robot()
        assert robot.uses_runs_api
        health = robot.health().raw
        assert health["simulator"]["robot_software"] == 8
        seed_cells(book)
        book.ok(f"%%ot2_protocol basic_transfer --run --wait\n{PROTOCOL}", "protocol")
    finally:
        book.ok("%unload_ext ot2_notebook")
