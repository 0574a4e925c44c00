"""Notebook 5's robot cells on a robot on software 8: nbval never runs them (they run only
when ``OT2_ROBOT_URL`` names a robot), so this runs the notebook in a real kernel with
``OT2_ROBOT_URL`` pointing at ``ot2-sim --robot-software 8`` (a physical OT-2 cannot run here;
the same cells ran against the real robot-server 8.1.0, see ``README.md``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import start

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_robot_cells_of_notebook_5_on_a_software_8_robot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "05_connecting_to_a_real_ot2.ipynb"
    with start(port=0, robot_software=8, analysis_timeout=60) as robot:
        monkeypatch.setenv("OT2_ROBOT_URL", robot.url)
        shutil.copy(NOTEBOOKS / name, tmp_path / name)
        notebook = nbformat.read(tmp_path / name, as_version=4)
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=300,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
        cells = [c for c in notebook.cells if c.cell_type == "code"]
        connect = text_of(next(c for c in cells if "%ot2_connect $ROBOT_URL" in c.source))
        assert f"Connected to ot2-sim at {robot.url}" in connect
        assert "protocols and runs API" in connect
        assert "HTTP protocol sessions" not in connect  # nothing to enable on software 8
        run = text_of(next(c for c in cells if "%ot2_upload robot_check" in c.source))
        assert "EquipmentPanel: Robot check (API 2.11)" in run
        assert re.search(r"RunPanel: Robot check \(robot_check\)\n  state: finished", run), run
        assert "Deleted 1 protocol (robot_check) and 1 session from the robot." in run
        with RobotClient(robot.url) as client:
            assert client.protocols() == [] and client.sessions() == []
