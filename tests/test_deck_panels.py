"""The deck in the panels and the magics, against a real ot2-sim: the equipment panel draws the
deck from the definitions (custom labware from the bundle), the run panel made by the magics
carries a deck view that follows the run (from the simulator's structured step data), and a
cell's display data holds those widgets. Widget state is read from the real ipywidgets
objects the cells displayed (no browser here: tests/browser drives one)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget import _instances

from ot2_notebook.client import RobotClient
from ot2_notebook.widgets import DeckView, EquipmentPanel, RunPanel, show_deck
from tests.conftest import PROTOCOLS
from tests.test_magics_workflow import Notebook, Ran, notebook  # noqa: F401  (fixture)

CUSTOM = PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"
TUBES = ["A1", "A2", "A3", "B1", "B2", "B3"]


def wells_in(svg: str, slot: int) -> list[str]:
    """The wells drawn for the labware in ``slot`` of a deck SVG."""
    root = ET.fromstring(svg)
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if "ot2-labware" in (group.get("class") or "").split() and group.get("data-slot") == str(
            slot
        ):
            return sorted(e.get("data-well") or "" for e in group if e.get("class") == "ot2-well")
    raise AssertionError(f"no labware drawn in slot {slot}")


def tree(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    """A widget and every widget inside it."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from tree(child)


def displayed(ran: Ran, kind: type) -> list[Any]:
    """The widgets of type ``kind`` a cell displayed (from its display data's model ids)."""
    found = []
    for output in ran.captured.outputs:
        view = output.data.get("application/vnd.jupyter.widget-view+json")
        if view is not None and isinstance(_instances.get(view["model_id"]), kind):
            found.append(_instances[view["model_id"]])
    return found


# -- the equipment panel --------------------------------------------------------------------------


def test_equipment_panel_draws_the_deck_with_custom_labware(robot: RobotClient) -> None:
    protocol = robot.upload(PROTOCOLS / "custom_labware.py", support=[CUSTOM])
    panel = EquipmentPanel(protocol, definitions=[json.loads(CUSTOM.read_text())])
    plain = EquipmentPanel(protocol, drawing=False)
    try:
        view = panel.deck_view
        assert isinstance(view, DeckView) and view in tree(panel)
        assert panel.deck in tree(panel), "the slot map stays (its classes are relied on)"
        for slot in (1, 3):  # on the deck, and on the temperature module
            assert wells_in(view.base_view.value, slot) == TUBES
        # a protocol's deck without a session: nothing to play, the export is there
        hidden = [view.play, view.slider, view.speed, view.follow_button, view.step_view]
        assert all(w.layout.display == "none" for w in hidden)
        assert view.export_svg_button.layout.display != "none"
        assert view.threads == []
        assert plain.deck_view is None and plain.text() == panel.text()  # nbval compares it
        assert "ot2-deck-view" in view._dom_classes
    finally:
        panel.close()
        plain.close()


def test_equipment_panel_without_the_definition_says_what_it_lacks(robot: RobotClient) -> None:
    protocol = robot.upload(PROTOCOLS / "custom_labware.py", support=[CUSTOM])
    panel = EquipmentPanel(protocol)
    broken = EquipmentPanel(protocol, definitions=[{"parameters": {"loadName": "x"}}])
    try:
        assert panel.deck_view is not None
        assert "ot2nb_6_tuberack_5000ul" in panel.deck_view.message_view.value
        assert wells_in(panel.deck_view.base_view.value, 1) == []  # a labelled box
        # a definition that cannot be read: the slot map alone, and the reason
        assert broken.deck_view is None and broken.drawing_error
        notes = [w.value for w in tree(broken) if isinstance(w, widgets.HTML)]
        assert any("The deck could not be drawn" in note for note in notes)
    finally:
        panel.close()
        broken.close()


# -- the run panel --------------------------------------------------------------------------------


def test_run_panel_deck_follows_the_run_and_ends_with_the_panel(
    robot_with: Callable[..., RobotClient],
) -> None:
    robot = robot_with(left="p20_multi_gen2")  # the protocol's pipettes
    protocol = robot.upload(PROTOCOLS / "deck_two_pipettes.py")
    session = robot.create_session(protocol.id).wait_for("loaded", timeout=120)
    panel = RunPanel(session, deck=True)
    without = RunPanel(session, watch=False)
    try:
        view = panel.deck_view
        assert isinstance(view, DeckView) and view in tree(panel)
        assert without.deck_view is None and not any(isinstance(w, DeckView) for w in tree(without))
        assert view.timeline.phase == "load" and len(view.timeline) == 11  # before the run
        assert view.threads and set(view.threads) <= set(panel.threads)
        session.start()
        view.wait_for_step(11, timeout=120)
        panel.wait_for("finished", timeout=120)
        view.wait_idle()
        assert view.timeline.phase == "run" and len(view.timeline) == 11
        assert all(step.structured for step in view.timeline.steps)
        assert [s.mount for s in view.timeline.steps] == ["left"] * 6 + ["right"] * 5
        used = view.timeline.used_tips()
        assert used == [(1, f"{r}1") for r in "ABCDEFGH"] + [(4, "A1")]
        assert "state: finished" in panel.text() and "Deck" not in panel.text()
    finally:
        panel.close()
        without.close()
    assert panel.threads == [] and view.threads == [], "closing the panel left deck threads"


def test_a_newer_run_panel_retires_the_older_ones_deck(robot: RobotClient) -> None:
    protocol = robot.upload(PROTOCOLS / "deck_two_pipettes.py")
    session = robot.create_session(protocol.id).wait_for("loaded", timeout=120)
    first = RunPanel(session, deck=True)
    assert first.deck_view is not None and first.deck_view.threads
    second = RunPanel(session, deck=True)
    try:
        assert first.retired
        for thread in first.deck_view.threads:
            thread.join(15)
        assert first.deck_view.threads == [], "a retired panel's deck kept following"
        assert second.deck_view is not None and second.deck_view.threads
    finally:
        first.close()
        second.close()


def test_show_deck_is_exported_and_displays_a_view(robot: RobotClient) -> None:
    import ot2_notebook

    assert ot2_notebook.DeckView is DeckView and ot2_notebook.show_deck is show_deck
    protocol = robot.upload(PROTOCOLS / "deck_two_pipettes.py")
    view = show_deck(protocol, display=False)
    try:
        assert view.text().startswith("DeckView: Two pipettes (deck only, step 0 of 0)")
    finally:
        view.close()


# -- the magics -----------------------------------------------------------------------------------

CUSTOM_CELL = """
%%ot2_protocol cold_tubes --support {definition} --run --wait
metadata = {{"apiLevel": "2.13", "protocolName": "Cold tubes"}}


def run(ctx):
    rack = ctx.load_labware("ot2nb_6_tuberack_5000ul", 1)
    block = ctx.load_module("temperature module gen2", 3)
    cold = block.load_labware("ot2nb_6_tuberack_5000ul")
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.transfer(500, rack["A1"], cold.wells())
"""


def test_the_magics_show_the_deck_after_upload_and_during_the_run(notebook: Notebook) -> None:  # noqa: F811
    ran = notebook.ok(CUSTOM_CELL.format(definition=CUSTOM))
    [equipment] = displayed(ran, EquipmentPanel)
    assert equipment.deck_view is not None
    for slot in (1, 3):  # the bundle's labware definition, passed to the drawing
        assert wells_in(equipment.deck_view.base_view.value, slot) == TUBES
    runs = displayed(ran, RunPanel)
    assert runs and all(panel is runs[0] for panel in runs)  # shown, then re-sent at the end
    deck = runs[0].deck_view
    assert isinstance(deck, DeckView) and deck in tree(runs[0])
    assert wells_in(deck.base_view.value, 3) == TUBES
    deck.wait_idle()
    # the run as the simulator described it: 500 µL into each cold tube, from the rack's A1
    frame = deck.timeline.volumes()
    cold = frame[frame["slot"] == 3]
    assert dict(zip(cold["well"], cold["volume"], strict=True)) == dict.fromkeys(TUBES, 500.0)
    assert deck.timeline.phase == "run" and all(s.structured for s in deck.timeline.steps)
    # the display data: the run panel's widget state names the deck view among its children
    state = runs[0].get_state()
    assert f"IPY_MODEL_{deck.model_id}" in state["children"]
    # the text forms the notebooks save are the panels' own, unchanged by the deck
    assert "RunPanel: Cold tubes (cold_tubes)" in ran.shown and "DeckView" not in ran.shown


def test_ot2_run_shows_the_deck_too(notebook: Notebook) -> None:  # noqa: F811
    notebook.ok(CUSTOM_CELL.format(definition=CUSTOM).replace(" --run --wait", " --no-upload"))
    ran = notebook.ok("%ot2_run cold_tubes --wait")
    [panel] = {id(p): p for p in displayed(ran, RunPanel)}.values()
    assert panel.deck_view is not None
    assert wells_in(panel.deck_view.base_view.value, 1) == TUBES
