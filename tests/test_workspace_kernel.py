"""The notebook as a workspace in real Jupyter kernels: a notebook run top to bottom on a
robot that keeps one protocol, and a kernel restart in the middle of a run.

* The notebook is executed by ``nbclient`` in a fresh ``python3`` kernel, as CI or papermill
  run notebooks; its saved outputs are what the assertions read.
* The restart is a real one (``KernelManager.restart_kernel``): the kernel process is
  replaced, and the simulated robot, started by the test (not by the kernel, whose children
  die with it), runs on. The kernel gets ``JPY_SESSION_NAME`` as Jupyter gives it to a
  notebook's kernel, and its own state folder for the ownership record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import Api, wait_until
from tests.test_magics_kernel import Kernel
from tests.test_magics_workflow import protocols_on, sessions_on

PROTOCOLS = Path(__file__).resolve().parent / "protocols"

PROTOCOL_CELL = """%%ot2_protocol {name} --run --wait
metadata = {{"apiLevel": "2.13", "protocolName": "{title}"}}

def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    for well in {wells}:
        pipette.transfer(25, plate["A1"], plate[well])
"""


def outputs_text(cell: Any) -> str:
    """A saved cell's outputs as plain text (displays as last updated, streams, errors)."""
    parts = []
    for output in cell.outputs:
        if output.output_type in ("display_data", "execute_result"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "\n".join(parts)


def test_a_notebook_runs_three_protocols_through_one_upload_place(
    start_sim: Callable[..., SimulatorHandle], tmp_path: Path
) -> None:
    """One protocol, then a second, then the first again, on a robot that keeps one: top to
    bottom, no cleanup cell, every panel right."""
    sim = start_sim(analysis_timeout=20)  # --max-protocols 1, as an OT-2
    cells = [
        "%load_ext ot2_notebook",
        f"%ot2_connect {sim.url}",
        PROTOCOL_CELL.format(name="fill_row", title="Fill a row", wells='["A2", "A3"]'),
        PROTOCOL_CELL.format(name="fill_column", title="Fill a column", wells='["B1", "C1"]'),
        "%ot2_run fill_row --wait",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(notebook, kernel_name="python3", timeout=300, allow_errors=False).execute(
        cwd=str(tmp_path)
    )
    connect, first, second, again = (outputs_text(c) for c in notebook.cells[1:])
    assert "Connected to ot2-sim" in connect and "On the robot" not in connect
    assert "EquipmentPanel: Fill a row" in first and "Made room" not in first
    assert "RunPanel: Fill a row (fill_row)\n  state: finished" in first
    assert "Made room on the robot (it keeps 1 protocol): removed 'fill_row'" in second
    assert "EquipmentPanel: Fill a column" in second
    assert "RunPanel: Fill a column (fill_column)\n  state: finished" in second
    assert "removed 'fill_column'" in again
    assert "RunPanel: Fill a row (fill_row)\n  state: finished" in again
    assert "progress: step" in again and "error" not in again.lower()
    with Api(sim.url) as api:
        assert list(protocols_on(api)) == ["fill_row"]
        [session] = sessions_on(api)
        assert session["details"]["currentState"] == "finished"


@pytest.fixture
def notebook_kernel(tmp_path: Path) -> Iterator[tuple[KernelManager, Kernel]]:
    """A kernel as Jupyter starts one for ``lab/plates.ipynb``, with its own state folder."""
    manager = KernelManager(kernel_name="python3")
    env = {
        "JPY_SESSION_NAME": str(tmp_path / "lab" / "plates.ipynb"),
        "OT2_NOTEBOOK_STATE_DIR": str(tmp_path / "state"),
    }
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    try:
        yield manager, Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_restarted_kernel_reattaches_and_follows_the_run_to_its_end(
    notebook_kernel: tuple[KernelManager, Kernel],
    start_sim: Callable[..., SimulatorHandle],
    tmp_path: Path,
) -> None:
    manager, kernel = notebook_kernel
    sim = start_sim(analysis_timeout=20, speed=1)  # slow_steps: 30 delays of 2 s, about 60 s
    api = Api(sim.url)
    kernel.ok("%load_ext ot2_notebook")
    kernel.ok(f"%ot2_connect {sim.url}")
    started = kernel.ok(f"%ot2_run {PROTOCOLS / 'slow_steps.py'}")
    assert "RunPanel: Slow steps (slow_steps)" in started.texts()
    [session] = sessions_on(api)

    def step_starts() -> int:
        events = api.session(session["id"])["details"]["events"]
        return sum(1 for e in events if e["event"].endswith(".start"))

    # 30 steps in the load's simulation, then the run's first few
    wait_until(lambda: step_starts() > 32, timeout=60, message="the run did not get going")

    manager.restart_kernel(now=True)
    kernel.client.wait_for_ready(timeout=120)
    assert kernel.ok("import sys; print('ot2_notebook' in sys.modules)").texts().strip() == (
        "False"
    )  # a new process: nothing of the old kernel is left in it

    kernel.ok("%load_ext ot2_notebook")
    connected = kernel.ok(f"%ot2_connect {sim.url}").texts()
    assert "protocol 'slow_steps' (uploaded by this notebook)" in connected
    assert f"session {session['id']}: running, step " in connected
    assert "Follow it with %ot2_run slow_steps." in connected
    assert api.state(session["id"]) == "running"  # the restart came in the middle of the run

    followed = kernel.execute("%ot2_run slow_steps --wait", timeout=240)
    assert followed.status == "ok", followed.texts()
    text = followed.texts()
    assert (
        f"Protocol 'slow_steps' is already running on the robot (session {session['id']}): "
        "following that run instead of starting another." in text
    )
    final = [o["content"] for o in followed.outputs if o["msg_type"] == "update_display_data"]
    assert final, "the run panel was not re-sent when the run ended"
    panel_text = final[-1]["data"]["text/plain"]
    assert "state: finished" in panel_text and "progress: step 30 of 30" in panel_text
    assert [s["id"] for s in sessions_on(api)] == [session["id"]]  # no second run
    assert api.state(session["id"]) == "finished"

    cleaned = kernel.ok("%ot2_cleanup").texts()  # what the notebook made before the restart
    assert "Deleted 1 protocol (slow_steps) and 1 session from the robot." in cleaned
    assert protocols_on(api) == {} and sessions_on(api) == []
    api.close()
