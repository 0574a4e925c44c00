"""The deck view in a real JupyterLab in headless Chromium: wells drawn from the labware
definitions, a live run followed while no cell runs, a finished run scrubbed with the
slider, JupyterLab's dark theme, and run controls whose enabled state shows at a glance.

The test writes its own small notebook (the Python API, no magics): it starts a paced
simulated robot in the kernel, uploads the serial dilution, shows a ``DeckView`` of its
session, and starts the run from a cell that returns at once. What the page shows is read
from the DOM (the SVG the widgets hold, their text), and compared with the protocol's own
settings. Screenshots go to ``test-artifacts/`` (``deck-view-loaded.png``,
``deck-view-live.png``, ``deck-view-finished.png``, ``deck-view-dark.png``,
``deck-view-scrubbed.png``,
``run-controls.png``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.lab import JupyterLab, running_lab
from tests.browser.notebook import LabNotebook

pytestmark = pytest.mark.browser

PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"
FILES = ("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")
NOTEBOOK = "deck_view_test.ipynb"

OPEN_TIMEOUT = 120_000
CELL_TIMEOUT = 180_000
UPDATE_TIMEOUT = 90_000
SCREENSHOTS = (
    "deck-view-loaded.png",
    "deck-view-live.png",
    "deck-view-finished.png",
    "deck-view-scrubbed.png",
    "deck-view-dark.png",
    "run-controls.png",
)

CELLS = [
    # 0: a paced simulated robot (steps at robot time / 3: the run lasts several seconds)
    "from ot2_notebook import RobotClient, simulator\n"
    "from ot2_notebook.widgets import RunPanel\n"
    "from ot2_notebook.widgets.deck_view import DeckView\n"
    "sim = simulator.start(port=0, speed=3)\n"
    "robot = RobotClient(sim.url)",
    # 1: upload and load
    "protocol = robot.upload('serial_dilution.py',\n"
    "                        support=['dilution_helpers.py', 'dilution_settings.json'])\n"
    "session = robot.create_session(protocol.id).wait_for('loaded', timeout=120)\n"
    "print(session.id)",
    # 2: the deck view of the session (the load simulation until the run starts)
    "view = DeckView(protocol, session=session)\nview",
    # 3: start the run; the cell returns at once, the view follows it
    "session.start();",
    # 4: the run controls of the finished session
    "panel = RunPanel(session, watch=False)\npanel",
]

# Records the step text of the deck view each time it changes, with the kernel's status.
_WATCH_STEPS = """
(view) => {
    const nb = window.__ot2nb;
    const step = view.querySelector('.ot2-deck-step');
    const seen = [];
    const sample = () => {
        const text = step ? step.textContent.trim() : '';
        if (seen.length && seen[seen.length - 1].text === text) { return; }
        const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
        seen.push({text, kernel: kernel ? kernel.status : 'none',
                   inuse: view.querySelectorAll('.ot2-deck-layer-state .ot2-tip-inuse').length});
    };
    sample();
    const observer = new MutationObserver(sample);
    observer.observe(view, {subtree: true, childList: true, characterData: true});
    window.__ot2deck = {seen, observer};
}
"""


def dilution() -> tuple[dict[str, float], int, int]:
    """serial_dilution.py from its settings: plate volumes, tips, and steps (each transfer
    step is pick up, 4 aspirate/dispense, drop)."""
    settings = json.loads((PROTOCOLS / "dilution_settings.json").read_text())
    row = [f"{settings['row']}{c}" for c in range(1, 13)]
    plate: dict[str, float] = {}
    for source, target in pairwise(row[: settings["steps"] + 1]):
        plate[target] = plate.get(target, 0.0) + 1.5 * settings["volume"]
        plate[source] = plate.get(source, 0.0) - settings["volume"] / 2
    return plate, settings["steps"], 6 * settings["steps"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("deck-lab")
    root = base / "notebooks"
    root.mkdir()
    for name in FILES:
        shutil.copy(PROTOCOLS / name, root / name)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, root / NOTEBOOK)
    log = artifacts / "jupyterlab-deck.log"
    log.unlink(missing_ok=True)
    with running_lab(root, base / "jupyter", log) as server:
        yield server


def step_number(text: str) -> tuple[int, int] | None:
    match = re.search(r"Step (\d+) of (\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def test_deck_view_in_jupyterlab(lab: JupyterLab, page: Page, artifacts: Path) -> None:
    for stale in (*SCREENSHOTS, *artifacts.glob("failed-test_deck*")):
        (artifacts / stale).unlink(missing_ok=True)
    plate, tips, total = dilution()
    notebook = LabNotebook(page, NOTEBOOK)
    notebook.open(lab.lab_url(NOTEBOOK), timeout_ms=OPEN_TIMEOUT)
    for index in range(3):
        notebook.run_cell(index, timeout_ms=CELL_TIMEOUT)

    # -- the deck, drawn from the definitions: one shape per well -------------------------
    view = notebook.cell(2).locator(".ot2-deck-view")
    expect(view).to_be_visible(timeout=UPDATE_TIMEOUT)
    base = view.locator(".ot2-deck-layer-base svg")
    state = view.locator(".ot2-deck-layer-state svg")
    expect(base).to_be_visible()
    wells = base.locator('g.ot2-labware[data-slot="2"] .ot2-well')
    expect(wells).to_have_count(96)
    expect(base.locator('g.ot2-labware[data-slot="3"] rect.ot2-well')).to_have_count(12)
    expect(base.locator('g.ot2-tiprack[data-slot="1"] circle.ot2-well')).to_have_count(96)
    labels = state.locator(".ot2-labware-label")
    expect(labels.filter(has_text="Opentrons OT-2 96 Tip Rack 300")).to_have_count(1)
    base_box, state_box = base.bounding_box(), state.bounding_box()
    assert base_box and state_box and base_box["width"] > 400, base_box
    assert abs(base_box["x"] - state_box["x"]) < 1 and abs(base_box["y"] - state_box["y"]) < 1
    assert abs(base_box["width"] - state_box["width"]) < 1, (base_box, state_box)
    a1, h12 = (wells.nth(i).bounding_box() for i in (0, 95))
    assert a1 and h12 and a1["x"] < h12["x"] and a1["y"] < h12["y"], "A1 is back left of H12"
    # the load simulation, before any run: the end of what the run will do
    expect(view.locator(".ot2-deck-step")).to_contain_text(f"Step {total} of {total}")
    expect(view.locator(".ot2-deck-step")).to_contain_text("load simulation")
    view.screenshot(path=str(artifacts / "deck-view-loaded.png"))

    # -- a live run, followed while no cell runs ------------------------------------------------
    view.evaluate(_WATCH_STEPS)
    notebook.run_cell(3, timeout_ms=CELL_TIMEOUT)
    notebook.wait_kernel_idle()
    expect(view.locator(".ot2-deck-step")).to_contain_text("live run", timeout=UPDATE_TIMEOUT)
    try:
        page.wait_for_function(
            "() => window.__ot2deck.seen.filter((s) => s.text.includes('live run')).length >= 3",
            timeout=UPDATE_TIMEOUT,
        )
    except PlaywrightTimeoutError:
        seen = [s["text"] for s in page.evaluate("() => window.__ot2deck.seen")]
        raise AssertionError(
            f"The deck view showed {len(seen)} step(s) in {UPDATE_TIMEOUT / 1000:g} s of a live "
            f"run ({seen}): live updates from the view's threads did not reach the browser."
        ) from None
    expect(state.locator(".ot2-tip-inuse")).to_have_count(1, timeout=UPDATE_TIMEOUT)
    view.screenshot(path=str(artifacts / "deck-view-live.png"))
    expect(view.locator(".ot2-deck-step")).to_contain_text(
        f"Step {total} of {total} (run)", timeout=UPDATE_TIMEOUT
    )
    seen = page.evaluate("() => window.__ot2deck.seen")
    page.evaluate("() => window.__ot2deck.observer.disconnect()")
    live = [s for s in seen if "live run" in s["text"]]
    # The view turns to the live run as soon as the session starts, which can be while the
    # cell that started it is still running ("Before the first step"). The steps come from
    # the view's own threads: the first can reach the browser before the kernel's "idle"
    # (both travel on the kernel's iopub channel, and the run's first step takes a few ms;
    # seen in CI), every one after the kernel went idle arrives while no cell runs.
    first = next((i for i, s in enumerate(live) if step_number(s["text"])), len(live))
    before, during = live[:first], live[first:]
    assert all(s["text"].startswith("Before the first step") for s in before), before
    assert during and all(step_number(s["text"]) for s in during), f"not a step: {during}"
    went_idle = next((i for i, s in enumerate(during) if s["kernel"] == "idle"), len(during))
    assert went_idle <= 1, f"steps arrived while a cell was running: {during[:went_idle]}"
    idle = during[went_idle:]
    assert all(s["kernel"] == "idle" for s in idle), f"a cell was running: {during}"
    assert len(idle) >= 3, f"too few steps while no cell ran: {during}"
    steps = [n[0] for n in (step_number(s["text"]) for s in during) if n]
    assert len(set(steps)) >= 3 and steps == sorted(steps), f"the view did not follow: {steps}"
    assert any(s["inuse"] == 1 for s in live), "no tip was seen on the pipette during the run"

    # the finished run: liquid where the protocol put it, every tip it took used
    fills = {
        (e["slot"], e["well"]): e["cls"]
        for e in state.locator(".ot2-fill, .ot2-fill-drawn").evaluate_all(
            "(els) => els.map((e) => ({slot: e.dataset.slot, well: e.dataset.well, "
            "cls: e.getAttribute('class')}))"
        )
    }
    expected = {("2", w): "ot2-fill" if v > 0 else "ot2-fill-drawn" for w, v in plate.items() if v}
    expected[("3", "A1")] = "ot2-fill-drawn"
    assert fills == expected
    expect(state.locator(".ot2-tip-used")).to_have_count(tips)
    view.screenshot(path=str(artifacts / "deck-view-finished.png"))

    # -- the dark theme: the deck takes JupyterLab's colours --------------------------------------
    slot_fill = "(r) => getComputedStyle(r).fill"
    layout_color = (
        "() => { const d = document.createElement('div');"
        " d.style.color = 'var(--jp-layout-color1)'; document.body.appendChild(d);"
        " const c = getComputedStyle(d).color; d.remove(); return c; }"
    )
    empty_slot = base.locator('rect.ot2-slot[data-slot="5"]')
    light = empty_slot.evaluate(slot_fill)
    assert light == page.evaluate(layout_color), light
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeLight === 'false'", timeout=UPDATE_TIMEOUT
    )
    page.wait_for_function(
        "([slot, light]) => getComputedStyle(slot).fill !== light",
        arg=[empty_slot.element_handle(), light],
        timeout=UPDATE_TIMEOUT,
    )
    dark = empty_slot.evaluate(slot_fill)
    assert dark == page.evaluate(layout_color) and dark != light, (light, dark)
    view.screenshot(path=str(artifacts / "deck-view-dark.png"))
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Light'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeLight === 'true'", timeout=UPDATE_TIMEOUT
    )

    # -- scrubbing: a click on the slider's track, the deck goes back --------------------------
    track = view.locator(".ot2-deck-slider .noUi-base")
    box = track.bounding_box()
    assert box, "no slider track"
    # a click where the track is now (Playwright scrolls it into view and waits for it to
    # stand still: the theme change above re-lays out the page)
    track.click(position={"x": box["width"] * 0.2, "y": box["height"] / 2})
    step_text = view.locator(".ot2-deck-step")
    expect(step_text).not_to_contain_text(f"Step {total} of {total}", timeout=UPDATE_TIMEOUT)
    shown = step_number(step_text.inner_text())
    assert shown and 0 < shown[0] < total, step_text.inner_text()
    expect(state.locator(".ot2-tip-used")).to_have_count(shown[0] // 6)
    expect(state.locator(".ot2-hl-source, .ot2-hl-dest, .ot2-hl-place").first).to_be_attached()
    assert "Follow live" in view.locator(".ot2-deck-follow").inner_text()
    view.screenshot(path=str(artifacts / "deck-view-scrubbed.png"))

    # -- run controls: enabled and disabled tell apart at a glance ------------------------------
    notebook.run_cell(4, timeout_ms=CELL_TIMEOUT)
    panel = notebook.cell(4).locator(".ot2-run-panel")
    expect(panel.locator(".ot2-btn-start")).to_be_enabled(timeout=UPDATE_TIMEOUT)
    looks = {
        name: panel.locator(f".ot2-btn-{name}").evaluate(
            "(b) => { const s = getComputedStyle(b); return {opacity: parseFloat(s.opacity), "
            "border: s.borderTopStyle, background: s.backgroundColor, title: b.title}; }"
        )
        for name in ("start", "pause", "resume", "cancel")
    }
    assert looks["start"]["opacity"] == 1 and looks["start"]["border"] != "dashed", looks
    for name in ("pause", "resume", "cancel"):
        look = looks[name]
        assert look["opacity"] < 0.7 and look["border"] == "dashed", (name, look)
        assert look["background"] in ("rgba(0, 0, 0, 0)", "transparent"), (name, look)
        assert "not possible" in look["title"], (name, look)
    panel.screenshot(path=str(artifacts / "run-controls.png"))
