"""A tutorial notebook run in a real JupyterLab 4 and a real Notebook 7 (the newest of each),
in headless Chromium: the panels as users see them.

What only a browser shows: that the panels render at all (ipywidgets' front end, the
JupyterLab and ipywidgets releases installed, the panels' CSS), that the run panel keeps
moving from its background threads while no cell runs, and that a click on a button goes
back through the widget comm to the kernel and on to the robot.

The notebook runs up to its live run cell (``%%ot2_protocol NAME --run`` or ``%ot2_run``,
without ``--wait``): that cell returns at once and the run goes on; the cells after it
(which drive the same session from Python) are not run. The tutorial's protocol first
pauses itself (``ctx.pause``); the test clicks Resume, watches the progress advance while
no cell runs, clicks Pause, checks the robot over its HTTP API (at the URL the notebook's
``%ot2_connect`` printed), clicks Resume and waits for the end. Screenshots of both panels
go to ``test-artifacts/`` (``equipment-panel.png``, ``run-panel.png``, and
``run-panel-paused.png``; ``notebook7-*.png`` from Notebook 7).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Locator, Page, expect

from ot2_notebook.client import RobotClient
from tests.browser.lab import FRONTENDS, JupyterLab, running_lab
from tests.browser.notebook import LabNotebook
from tests.conftest import wait_until

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: The tutorial under test: a live run long enough to pause by hand.
NOTEBOOK = "03_live_run_control.ipynb"

# Bounds (ms) for the browser's waits; generous for a loaded 2-core CI machine.
OPEN_TIMEOUT = 120_000
CELL_TIMEOUT = 180_000
UPDATE_TIMEOUT = 60_000
RUN_TIMEOUT = 240_000

SCREENSHOTS = ("equipment-panel.png", "run-panel.png", "run-panel-paused.png")

_RUN_LINE = re.compile(r"^\s*(%%ot2_protocol\s+\S+.*\s--run\b|%ot2_run\s)")


def live_run_cell(path: Path) -> int:
    """The index of the notebook's first cell that starts a run and returns at once."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
        if _RUN_LINE.match(first + " ") and "--wait" not in first:
            return index
    raise AssertionError(
        f"{path.name} has no cell that starts a run without waiting (%%ot2_protocol NAME "
        "--run, or %ot2_run NAME): the browser test needs one to pause and resume."
    )


@pytest.fixture(scope="module", params=FRONTENDS)
def lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[JupyterLab]:
    """JupyterLab, or Notebook 7, serving a temporary copy of ``notebooks/`` (the notebook's
    files beside it)."""
    frontend = str(request.param)
    base = tmp_path_factory.mktemp(frontend)
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    log = artifacts / ("jupyterlab.log" if frontend == "lab" else "notebook7.log")
    log.unlink(missing_ok=True)
    with running_lab(root, base / "jupyter", log, frontend=frontend) as server:
        yield server


def shot(lab: JupyterLab, name: str) -> str:
    """The screenshot file name for this front end (Notebook 7's carry a prefix)."""
    return name if lab.frontend == "lab" else f"notebook7-{name}"


def robot_url(notebook: LabNotebook) -> str:
    """The simulated robot's URL, from ``%ot2_connect``'s note ("Connected to ... at URL")."""
    note = notebook.ran(".ot2-connect").last
    expect(note).to_contain_text("Connected to", timeout=10_000)
    match = re.search(r" at (http://\S+)", note.inner_text())
    assert match, f"no robot URL in the %ot2_connect output: {note.inner_text()!r}"
    return match.group(1)


def check_deck(equipment: Locator, robot: RobotClient, protocol_id: str) -> None:
    """The deck map shows, in each slot, the labware the robot's analysis puts there, laid
    out as on the OT-2 (10 11 12 at the back, 1 2 3 at the front)."""
    deck = equipment.locator(".ot2-deck")
    expect(deck).to_be_visible()
    labware = [lw for lw in robot.protocol(protocol_id).equipment.labware if not lw.is_fixed_trash]
    assert labware, f"protocol {protocol_id} loads no labware: nothing to check on the deck"
    for item in labware:
        slot = deck.locator(f".ot2-deck-slot.ot2-slot-{item.slot}")
        expect(slot).to_be_visible()
        expect(slot).to_contain_text(item.label or item.load_name)
    expect(deck.locator(".ot2-slot-12")).to_contain_text("fixed trash")
    boxes = {n: deck.locator(f".ot2-slot-{n}").first.bounding_box() for n in (1, 3, 10, 12)}
    assert all(box and box["width"] > 20 and box["height"] > 20 for box in boxes.values()), boxes
    one, three, ten = boxes[1], boxes[3], boxes[10]
    assert one and three and ten
    assert ten["y"] < one["y"], f"slot 10 should be behind (above) slot 1: {boxes}"
    assert one["x"] < three["x"], f"slot 1 should be left of slot 3: {boxes}"


def click(panel: Locator, button: str) -> None:
    """Click a run panel button once it is enabled (the panel enables exactly the buttons
    whose command the robot accepts now)."""
    target = panel.locator(f".ot2-btn-{button}")
    expect(target).to_be_enabled(timeout=UPDATE_TIMEOUT)
    target.click()


def wait_robot_leaves(robot: RobotClient, session_id: str, state: str) -> str:
    """Wait until the robot's session is no longer in ``state``; returns its new state."""

    def moved_on() -> str | None:
        current = robot.session(session_id).state
        return current if current != state else None

    return wait_until(
        moved_on,
        timeout=UPDATE_TIMEOUT / 1000,
        message=f"the robot's session stayed {state!r} after the button was clicked",
    )


def test_tutorial_panels_live_in_jupyterlab(lab: JupyterLab, page: Page, artifacts: Path) -> None:
    failed = [p.name for p in artifacts.glob("failed-*") if f"[{lab.frontend}]" in p.name]
    for stale in (*(shot(lab, n) for n in SCREENSHOTS), *failed):  # from an earlier run
        (artifacts / stale).unlink(missing_ok=True)
    run_index = live_run_cell(lab.root_dir / NOTEBOOK)
    notebook = LabNotebook(page, NOTEBOOK)
    notebook.open(lab.lab_url(NOTEBOOK), timeout_ms=OPEN_TIMEOUT)

    # Run the notebook up to (and including) its live run cell, as a user would.
    cells = nbformat.read(lab.root_dir / NOTEBOOK, as_version=4).cells
    for index in range(run_index + 1):
        if cells[index].cell_type == "code":
            notebook.run_cell(index, timeout_ms=CELL_TIMEOUT)

    panel = notebook.cell(run_index).locator(".ot2-run-panel")
    expect(panel).to_be_visible(timeout=UPDATE_TIMEOUT)
    badge = panel.locator(".ot2-run-state .ot2-badge")
    ids = panel.locator(".ot2-run-header code")
    protocol_id, session_id = ids.nth(0).inner_text().strip(), ids.nth(1).inner_text().strip()

    with RobotClient(robot_url(notebook)) as robot:
        # The equipment panel of the protocol being run (shown when it was uploaded): the
        # deck map shows what the robot's analysis says goes where.
        equipment = (
            notebook.ran(".ot2-equipment-panel")
            .filter(
                has=page.locator(".ot2-equipment-header code").get_by_text(protocol_id, exact=True)
            )
            .last
        )
        expect(equipment).to_be_visible(timeout=UPDATE_TIMEOUT)
        expect(equipment.locator(".ot2-equipment-header")).to_contain_text("analysed")
        check_deck(equipment, robot, protocol_id)
        equipment.screenshot(path=str(artifacts / shot(lab, "equipment-panel.png")))

        # The tutorial's protocol first pauses itself (ctx.pause: "put the plate in"): the
        # badge shows that it is paused and waits for the user (a pause from the panel is
        # plain "paused", below), and Resume in the browser lets the run go on.
        expect(badge).to_have_text("paused (waiting for you)", timeout=UPDATE_TIMEOUT)
        expect(badge).to_have_class(re.compile(r"\bot2-state-paused\b"))
        assert robot.session(session_id).state == "paused"
        click(panel, "resume")
        wait_robot_leaves(robot, session_id, "paused")

        # Live progress, drawn from the panel's threads while no cell runs.
        notebook.wait_kernel_idle()
        notebook.watch_progress(f'[data-ot2-cell="{run_index}"] .ot2-run-panel')
        samples = notebook.wait_progress_samples(3, timeout_ms=UPDATE_TIMEOUT)
        notebook.stop_watching_progress()
        # no cell runs; the kernel may be "busy" for a moment handling a widget comm message
        # (the front end's answer to an update), which is not a cell
        assert all(s.running_cells == 0 for s in samples) and any(
            s.kernel == "idle" for s in samples
        ), f"the progress changed while a cell was running: {samples}"
        steps = [s.step for s in samples]
        assert steps[1] is not None and steps[2] is not None, steps
        assert (steps[0] or 0) < steps[1] < steps[2], f"the progress did not advance: {steps}"
        expect(badge).to_have_text("running")

        # Pause in the browser: the robot pauses, the badge and the buttons follow.
        click(panel, "pause")
        expect(badge).to_have_text("paused", timeout=UPDATE_TIMEOUT)
        paused = robot.session(session_id)
        assert paused.state == "paused"
        assert any(
            e.source == "sessionCommand" and e.event == "protocol.pause" for e in paused.events
        ), "the robot's session shows no protocol.pause command: the click did not send one"
        expect(panel.locator(".ot2-btn-pause")).to_be_disabled()
        expect(panel.locator(".ot2-btn-resume")).to_be_enabled()
        panel.screenshot(path=str(artifacts / shot(lab, "run-panel-paused.png")))

        # Resume: the run goes on to its end, and the panel shows it.
        click(panel, "resume")
        wait_robot_leaves(robot, session_id, "paused")
        expect(badge).to_have_text("finished", timeout=RUN_TIMEOUT)
        final = robot.session(session_id)
        assert final.state == "finished"
        assert len(final.steps) > len(paused.steps), "no step ran after Resume"
        progress = panel.locator(".ot2-run-progress-text")
        total = re.search(r"of (\d+)$", progress.inner_text().strip())
        assert total, progress.inner_text()
        expect(progress).to_have_text(f"step {total.group(1)} of {total.group(1)}")
        expect(panel.locator(".ot2-btn-start")).to_be_enabled()
        panel.screenshot(path=str(artifacts / shot(lab, "run-panel.png")))
