"""DeckView against real ot2-sim processes: playback from a run or from the load simulation,
live follow of a paced run (feed and polling), scrubbing, export; and the run panel's
disabled buttons. Widget state and the SVG the widgets hold are read from the real
ipywidgets objects (no browser here: tests/browser/test_deck.py drives one)."""

from __future__ import annotations

import base64
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from ot2_notebook.client import RobotClient, Session
from ot2_notebook.simulator import SimulatorHandle, start
from ot2_notebook.widgets import RunPanel
from ot2_notebook.widgets.deck_view import SPEEDS, DeckView
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS, wait_until


def dilution_expectation() -> tuple[dict[str, float], int]:
    """Plate volumes and tips of serial_dilution.py, from its settings file."""
    settings = json.loads((PROTOCOLS / "dilution_settings.json").read_text())
    row = [f"{settings['row']}{c}" for c in range(1, 13)]
    plate: dict[str, float] = {}
    for source, target in pairwise(row[: settings["steps"] + 1]):
        plate[target] = plate.get(target, 0.0) + settings["volume"] * 1.5
        plate[source] = plate.get(source, 0.0) - settings["volume"] / 2
    return plate, settings["steps"]


def classes(svg: str, name: str) -> list[tuple[str | None, str | None]]:
    """(slot, well) of every element of class ``name`` in an SVG document."""
    root = ET.fromstring(svg)
    return [(e.get("data-slot"), e.get("data-well")) for e in root.iter() if e.get("class") == name]


def plate_volumes(view: DeckView) -> dict[str, float]:
    frame = view.timeline.volumes()
    frame = frame[frame["slot"] == 2]
    return dict(zip(frame["well"], frame["volume"], strict=True))


@pytest.fixture
def views() -> Iterator[list[DeckView]]:
    made: list[DeckView] = []
    yield made
    for view in made:
        view.close()
        assert view.threads == [], "a closed deck view left threads running"


@pytest.fixture(scope="module")
def paced_sim() -> Iterator[SimulatorHandle]:
    """Runs paced at robot time / 8: the serial dilution's 12 steps take a few seconds."""
    with start(port=0, max_protocols=10, speed=8.0, analysis_timeout=30) as handle:
        yield handle


def dilution_session(robot: RobotClient) -> Session:
    protocol = robot.upload(DILUTION, support=DILUTION_SUPPORT, replace=True)
    return robot.create_session(protocol.id).wait_for("loaded", timeout=60)


def test_playback_of_a_finished_run(robot: RobotClient, views: list[DeckView]) -> None:
    session = dilution_session(robot)
    session.start()
    session.wait_for("finished", timeout=120)
    view = DeckView(session=session)
    views.append(view)
    texts = [e.text for e in session.refresh().data.events if e.is_step_start]
    total = len(texts) // 2  # load simulation + one run, the same steps
    assert view.slider.max == view.play.max == total == len(view.timeline)
    assert view.position == total  # a finished run shows its end
    plate, tips = dilution_expectation()
    assert plate_volumes(view) == plate
    assert len(classes(view.state_view.value, "ot2-tip-used")) == tips
    assert "(run)" in view.step_view.value and f"Step {total} of {total}" in view.step_view.value

    view.slider.value = 0  # as a drag in the browser arrives
    assert classes(view.state_view.value, "ot2-fill") == []
    assert classes(view.state_view.value, "ot2-tip-used") == []
    assert "Before the first step" in view.step_view.value
    assert "estimated run time" in view.time_view.value

    view.slider.value = 3  # tip, aspirate from the reservoir, dispense into A2
    assert classes(view.state_view.value, "ot2-fill") == [("2", "A2")]
    assert classes(view.state_view.value, "ot2-fill-drawn") == [("3", "A1")]
    assert classes(view.state_view.value, "ot2-tip-inuse") == [("1", "A1")]
    assert classes(view.state_view.value, "ot2-hl-dest") == [("2", "A2")]
    assert texts[total + 2] in view.step_view.value.replace("&#x27;", "'")
    assert re.search(r"next step in about \d+ s · about .+ to the end", view.time_view.value)
    assert "step 3 of 12" in view.text()

    view.speed.value = SPEEDS["25 steps"]
    assert view.play.step == 25


def test_analysis_before_any_run(robot: RobotClient, views: list[DeckView]) -> None:
    session = dilution_session(robot)
    view = DeckView(session=session, watch=False)
    views.append(view)
    assert view.threads == []
    assert view.timeline.phase == "load"
    assert "load simulation" in view.text()
    assert view.slider.max == len(view.timeline) > 0
    plate, _ = dilution_expectation()
    assert plate_volumes(view) == plate  # what the run will do, before it runs
    view.show_step(1)
    assert classes(view.state_view.value, "ot2-tip-inuse") == [("1", "A1")]
    with pytest.raises(IndexError, match="out of range"):
        view.show_step(len(view.timeline) + 1)


def test_base_layer_draws_labware_wells_once(robot: RobotClient, views: list[DeckView]) -> None:
    view = DeckView(robot.upload(DILUTION, support=DILUTION_SUPPORT, replace=True))
    views.append(view)
    wells = classes(view.base_view.value, "ot2-well")
    assert (
        len([w for w in wells if w[0] is None]) == 96 + 96 + 12 + 1
    )  # plate, tips, reservoir, trash
    assert view.slider.max == 0 and "0 steps" in view.step_view.value


def test_live_run_follow_and_scrub(paced_sim: SimulatorHandle, views: list[DeckView]) -> None:
    with RobotClient(paced_sim.url) as robot:
        session = dilution_session(robot)
        view = DeckView(session=session)
        views.append(view)
        drawn: list[tuple[int, int, str]] = []  # (position, steps known, thread) per redraw
        view.state_view.observe(
            lambda _c: drawn.append(
                (view.position, len(view.timeline), threading.current_thread().name)
            ),
            names="value",
        )
        session.start()
        reached = view.wait_for_step(4, timeout=60)
        assert reached >= 4 and view.follow_button.value
        assert session.refresh().state == "running", "the run ended before the view followed it"
        assert "live run" in view.step_view.value
        followed = [p for p, _, thread in drawn if thread.startswith("ot2-deck")]
        assert len(set(followed)) >= 2 and followed == sorted(followed), (
            f"the view did not move with the run, from its own thread: {drawn}"
        )

        view.slider.value = 1  # the user scrubs back: the view stops following
        assert view.follow_button.value is False
        known = len(view.timeline)
        wait_until(
            lambda: view.slider.max > known + 1, timeout=60, message="no more steps were drawn"
        )
        assert view.position == 1  # the slider stays where the user put it
        view.follow_button.value = True  # and follows again
        assert view.position == len(view.timeline)

        session.wait_for("finished", timeout=120)
        view.wait_idle()
        wait_until(lambda: "(run)" in view.step_view.value, timeout=30, message="no final view")
        plate, tips = dilution_expectation()
        assert plate_volumes(view) == plate
        assert len(classes(view.state_view.value, "ot2-tip-used")) == tips


def test_polling_robot_catches_up(start_sim, views: list[DeckView]) -> None:  # type: ignore[no-untyped-def]
    """Without session events (a real 4.x robot), the view reads the session's events."""
    handle = start_sim(session_events=False, max_protocols=2)
    with RobotClient(handle.url) as robot:
        session = dilution_session(robot)
        view = DeckView(session=session, use_feed=False)
        views.append(view)
        session.start()
        session.wait_for("finished", timeout=120)
        wait_until(
            lambda: view.state == "finished" and "(run)" in view.step_view.value,
            timeout=60,
            message=lambda: f"the view shows {view.state!r}: {view.step_view.value}",
        )
        view.wait_idle()
        plate, _ = dilution_expectation()
        assert plate_volumes(view) == plate
        assert view.position == len(view.timeline) == view.slider.max


def test_export_svg_and_png(robot: RobotClient, views: list[DeckView], tmp_path: Path) -> None:
    session = dilution_session(robot)
    view = DeckView(session=session, watch=False)
    views.append(view)
    view.show_step(3)
    name = view.export("svg")
    assert name == "serial_dilution-step-3.svg"
    link = re.search(r'href="data:image/svg\+xml;base64,([^"]+)"', view.export_view.value)
    assert link and f'download="{name}"' in view.export_view.value
    svg = base64.b64decode(link.group(1)).decode()
    assert classes(svg, "ot2-fill") == [("2", "A2")]
    assert "step 3 of 12" in svg and "var(--jp" not in svg  # fixed colours in a file
    assert view.export("png") == "serial_dilution-step-3.png"
    png = re.search(r'href="data:image/png;base64,([^"]+)"', view.export_view.value)
    assert png and base64.b64decode(png.group(1))[:4] == b"\x89PNG"
    saved = view.save_svg(tmp_path / "deck.svg", 0)
    assert classes(saved.read_text(), "ot2-fill") == []
    assert view.save_png(tmp_path / "deck.png").read_bytes()[:4] == b"\x89PNG"


def test_run_controls_say_why_they_are_disabled(robot: RobotClient) -> None:
    session = dilution_session(robot)
    panel = RunPanel(session, watch=False)
    try:
        assert panel.enabled_buttons() == {"start"}
        assert panel.buttons["start"].tooltip == "Start the run"
        for name in ("pause", "resume", "cancel"):
            assert panel.buttons[name].disabled
            assert panel.buttons[name].tooltip.endswith("is not possible: the session is loaded")
    finally:
        panel.close()
    css = (Path(__file__).resolve().parents[1] / "ot2_notebook/widgets/panels.css").read_text()
    assert re.search(r"button\.ot2-btn:disabled \{[^}]*opacity: 0\.55", css)
