"""The tutorial notebooks: what nbval cannot see, and the cells CI would otherwise never run.

nbval (``pytest --nbval notebooks``) re-runs every notebook and compares outputs, but only
where a saved output exists: a notebook saved without outputs, or with a cell that failed,
would pass it vacuously. The first tests here check the saved files themselves: run top to
bottom in one kernel, errors only where a cell is tagged to raise, every notebook on its own
simulated robot and cleaned up at the end, the kernel Binder registers.

Notebook 5's robot cells run only when ``OT2_ROBOT_URL`` names a robot, so nbval never runs
them. The last test runs the notebook in a real kernel with ``OT2_ROBOT_URL`` pointing at a
simulated robot set up as a real 4.x OT-2 is: HTTP protocol sessions off, no session events on
the notification feed, one protocol at a time. (A physical OT-2 cannot run here; this is the
closest stand-in the simulator offers.)
"""

from __future__ import annotations

import configparser
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import SimulatorHandle

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SANITIZE = NOTEBOOKS / "nbval_sanitize.cfg"

# nbval's cell markers: tags (as used here) and the equivalent first-line comments.
IGNORE_OUTPUT = "nbval-ignore-output"
RAISES = "raises-exception"
SKIP_MARKERS = ("nbval-skip", "NBVAL_SKIP")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def plain_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as text (streams, text/plain, error values)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_series_is_numbered_in_reading_order() -> None:
    numbers = [int(path.name[:2]) for path in TUTORIALS]
    assert numbers == list(range(1, len(TUTORIALS) + 1)), [path.name for path in TUTORIALS]


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_saved_after_one_run_from_the_top(path: Path) -> None:
    """Every code cell ran, in order, in one fresh kernel: nbval then has an output to compare
    for each of them (it skips cells never run)."""
    notebook = read(path)
    nbformat.validate(notebook)
    counts = [cell.execution_count for cell in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"
    assert notebook.metadata["kernelspec"]["name"] == "python3", (
        "binder/postBuild registers the notebooks' kernel as python3"
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_errors_only_where_a_cell_is_meant_to_raise(path: Path) -> None:
    cells = code_cells(read(path))
    assert cells, f"{path.name} has no code cell"
    for index, cell in enumerate(cells):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if RAISES in tags(cell):
            assert errors, f"{path.name} code cell {index} is tagged {RAISES} but raised nothing"
        else:
            assert not errors, f"{path.name} code cell {index} failed: {plain_text(cell)}"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_outputs_are_checked_except_in_marked_cells(path: Path) -> None:
    """No cell or notebook is skipped, and most outputs are compared: only single cells whose
    output cannot be compared are marked."""
    cells = code_cells(read(path))
    for cell in cells:
        marked = " ".join(tags(cell)) + " " + cell.source.split("\n", 1)[0]
        assert not any(m in marked for m in SKIP_MARKERS), f"{path.name}: a skipped cell"
    ignored = [c for c in cells if IGNORE_OUTPUT in tags(c)]
    assert len(ignored) * 3 < len(cells), (
        f"{path.name}: {len(ignored)} of {len(cells)} code cells have their output ignored"
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_each_starts_its_simulated_robot_and_cleans_up(path: Path) -> None:
    cells = code_cells(read(path))
    sources = [cell.source for cell in cells]
    assert any(re.search(r"^%ot2_connect --simulate\b", s, re.MULTILINE) for s in sources), (
        f"{path.name} does not start its own simulated robot"
    )
    assert sources[-1].strip() == "%ot2_cleanup", f"{path.name} does not end with %ot2_cleanup"


def test_the_sanitize_file_is_valid() -> None:
    """nbval reads sections of ``regex``/``replace`` pairs; a broken one would silently mask
    nothing (or everything)."""
    parser = configparser.ConfigParser()
    assert parser.read(SANITIZE, encoding="utf-8")
    assert parser.sections()
    for section in parser.sections():
        pattern = re.compile(parser[section]["regex"])
        assert not pattern.match(""), f"[{section}] matches the empty string"
        assert "replace" in parser[section]
    masked = re.sub(
        parser["simulator_port"]["regex"],
        parser["simulator_port"]["replace"],
        "Connected to ot2-sim at http://127.0.0.1:43183",
    )
    assert masked == "Connected to ot2-sim at http://127.0.0.1:PORT"


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run a copy of notebook ``path`` in a real kernel, in ``cwd``, as nbclient saves it."""
    shutil.copy(path, cwd / path.name)
    notebook = read(cwd / path.name)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


def cell_with(notebook: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    matches = [cell for cell in code_cells(notebook) if text in cell.source]
    assert len(matches) == 1, f"{len(matches)} code cells contain {text!r}"
    return matches[0]


def test_real_robot_cells_against_a_robot_like_simulator(
    start_sim: Callable[..., SimulatorHandle],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    robot = start_sim(max_protocols=1, protocol_sessions=False, session_events=False)
    monkeypatch.setenv("OT2_ROBOT_URL", robot.url)
    notebook = execute(NOTEBOOKS / "05_connecting_to_a_real_ot2.ipynb", tmp_path)

    assert f"Robot cells run against {robot.url}" in plain_text(cell_with(notebook, "ROBOT_URL ="))
    connect = plain_text(cell_with(notebook, "%ot2_connect $ROBOT_URL"))
    assert f"Connected to ot2-sim at {robot.url}" in connect
    assert "HTTP protocol sessions: DISABLED" in connect
    assert "HTTP protocol sessions enabled." in connect

    run = plain_text(cell_with(notebook, "%ot2_upload robot_check"))
    assert "EquipmentPanel: Robot check (API 2.11)" in run
    # The run panel was re-sent with the final state; it followed the run by polling alone.
    assert re.search(r"RunPanel: Robot check \(robot_check\)\n  state: finished\n", run), run
    assert "Deleted 1 protocol (robot_check) and 1 session from the robot." in run

    with RobotClient(robot.url) as client:
        assert client.settings()["enableHttpProtocolSessions"] is True
        assert client.protocols() == []
        assert client.sessions() == []
    # The rehearsal after the robot cells ran on the notebook's own simulated robot: there
    # the second upload made room, and the last cell deletes what the notebook made last.
    assert "removed 'robot_check'" in plain_text(cell_with(notebook, "second_protocol"))
    # the robot's hardware was saved for a simulated robot
    saved = plain_text(cell_with(notebook, "as_hardware_file()"))
    assert "left p20_single_v2.2" in saved and "right p300_single_v2.1" in saved
    # a protocol for other hardware was stopped before its run, naming the mount
    refused = plain_text(cell_with(notebook, "%%ot2_protocol big_volumes --run"))
    assert "removed 'third_protocol'" in refused
    assert "CellEquipmentError: Protocol 'big_volumes' was not run" in refused
    assert "left mount: the protocol asks for p1000_single_gen2, but p20_single_v2.2" in refused
    last = plain_text(code_cells(notebook)[-1])
    assert "Deleted 1 protocol (big_volumes) from the robot." in last
