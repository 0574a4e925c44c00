"""Every tutorial notebook against a robot-like ``ot2-sim``: only the connect line differs.

For each notebook the test starts ``ot2-sim --robot-like`` (robot-server 4.7 where a client
must cope: no session events, API level 2.11 at most, run errors hidden, a cancel or delete
of a running session that holds the robot, the attached hardware checked by every run) with
the options of the notebook's own ``%ot2_connect --simulate ...`` line, rewrites that line to
``%ot2_connect URL``, and runs the notebook top to bottom in a real kernel (nbclient). Then:

* cells fail only where they are tagged to (``raises-exception``);
* the robot's request log holds no request that deadlocks a real 4.7 server (a cancel or
  delete of a paused session), and notebook 3's cancel of its paused run did reach the robot
  as a cancel of a running one;
* the robot is left empty.

Notebook 5's robot cells run too (``OT2_ROBOT_URL`` names the same robot-like simulator).
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import start
from tests.conftest import Api

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CONNECT = re.compile(r"^%ot2_connect --simulate(?P<args>[^\n]*)$", re.MULTILINE)


def _for_software_8(path: Path) -> bool:
    """The robot-like mode imitates robot software 4.7, so the notebooks for 4.x robots run
    here; notebook 7 (``%ot2_connect --simulate --robot-software 8``) is checked against the
    real robot-server 8.1.0 instead (``tests/support/real_robot8.py``)."""
    cells = nbformat.read(path, as_version=4).cells
    return any(
        "--robot-software 8" in match.group("args")
        for cell in cells
        if cell.cell_type == "code"
        for match in CONNECT.finditer(cell.source)
    )


TUTORIALS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not _for_software_8(p))
RAISES = "raises-exception"
STOP_DELAY = 3.0


def simulator_options(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The ``ot2-sim`` options of the notebook's ``%ot2_connect --simulate`` lines."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed", type=float, default=None)
    found = [
        match.group("args")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for match in CONNECT.finditer(cell.source)
    ]
    assert found, "the notebook starts no simulated robot"
    speeds = {parser.parse_args(shlex.split(args)).speed for args in found}
    assert len(speeds) == 1, f"connect lines with different options: {found}"
    return {"speed": speeds.pop()}


def connect_to(notebook: nbformat.NotebookNode, url: str) -> int:
    """Rewrite every ``%ot2_connect --simulate ...`` line; returns how many there were."""
    count = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source, n = CONNECT.subn(f"%ot2_connect {url}", cell.source)
            count += n
    return count


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_against_a_robot_like_simulator(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(path, as_version=4)
    options = simulator_options(notebook)
    with start(port=0, robot_like=True, stop_delay=STOP_DELAY, **options) as robot:
        assert connect_to(notebook, robot.url) >= 1
        monkeypatch.setenv("OT2_ROBOT_URL", robot.url)
        shutil.copy(path, tmp_path / path.name)
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=300,
            allow_errors=True,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()

        for index, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if RAISES in cell.get("metadata", {}).get("tags", []):
                assert errors, f"code cell {index} is tagged {RAISES} but raised nothing"
            else:
                assert not errors, (
                    f"code cell {index} failed on the robot-like simulator:\n{cell.source}\n"
                    + "\n".join(f"{o.ename}: {o.evalue}" for o in errors)
                )

        with Api(robot.url) as api:
            log = api.get("/simulator/requests").json()
        assert log["wouldDeadlock"] == [], "a request that deadlocks robot-server 4.7 was sent"
        stops = [e for e in log["requests"] if "sessionState" in e]
        if path.name.startswith("03_"):
            assert any(e["sessionState"] == "running" and e.get("blockedFor") for e in stops), (
                "notebook 3's cancel never reached the robot as a cancel of a running run"
            )
        assert all(e["status"] == 200 for e in stops), stops
        with RobotClient(robot.url) as check:
            assert check.sessions() == [] and check.protocols() == []
