"""The deck timeline and drawing against a real simulated robot: protocols uploaded to
``ot2-sim``, their load simulation and their run, read back over HTTP. The expected tips
and volumes are worked out here from each protocol's own settings, not from the code under
test."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from ot2_notebook.client import RobotClient
from ot2_notebook.deck import DeckLayout, DeckRenderer, Timeline, deck_svg, png_bytes
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS

SEED = PROTOCOLS / "basic_transfer.py"
SEED_SUPPORT = [PROTOCOLS / "helpers.py", PROTOCOLS / "basic_transfer_config.json"]
SVG = "{http://www.w3.org/2000/svg}"


def tip_order(count: int) -> list[str]:
    return [f"{row}{col}" for col in range(1, 13) for row in "ABCDEFGH"][:count]


def well_volumes(timeline: Timeline, slot: int) -> dict[str, float]:
    frame = timeline.volumes()
    frame = frame[frame["slot"] == slot]
    return dict(zip(frame["well"], frame["volume"], strict=True))


def expected_dilution() -> tuple[dict[str, float], float, int]:
    """serial_dilution.py, step by step: plate well volumes, reservoir A1 change, tips."""
    settings = json.loads((PROTOCOLS / "dilution_settings.json").read_text())
    row = [f"{settings['row']}{c}" for c in range(1, 13)]
    plate: dict[str, float] = {}
    reservoir = 0.0
    steps = settings["steps"]
    volume = settings["volume"]
    for source, target in pairwise(row[: steps + 1]):
        reservoir -= volume
        plate[target] = plate.get(target, 0.0) + volume
        plate[source] = plate.get(source, 0.0) - volume / 2
        plate[target] = plate.get(target, 0.0) + volume / 2
    return plate, reservoir, steps


def run_to_end(robot: RobotClient, protocol: Path, support: list[Path]) -> tuple[object, object]:
    uploaded = robot.upload(protocol, support=support)
    assert not uploaded.errors, uploaded.errors
    session = robot.create_session(uploaded.id)
    session.wait_for("loaded", timeout=60)
    session.start()
    session.wait_for("finished", timeout=120)
    return uploaded, session


@pytest.mark.parametrize("which", ["load", "run"])
def test_seed_example_tips_and_volumes(robot: RobotClient, which: str) -> None:
    _, session = run_to_end(robot, SEED, SEED_SUPPORT)
    timeline = Timeline.from_session(session, which=which)
    assert timeline.phase == which
    assert timeline.unread == []
    config = json.loads((PROTOCOLS / "basic_transfer_config.json").read_text())
    expected: dict[str, float] = {}
    for transfer in config["transfers"]:
        expected[transfer["source_well"]] = (
            expected.get(transfer["source_well"], 0) - transfer["ml"]
        )
        expected[transfer["target_well"]] = (
            expected.get(transfer["target_well"], 0) + transfer["ml"]
        )
    assert well_volumes(timeline, 1) == expected
    assert timeline.used_tips() == [(2, w) for w in tip_order(len(config["transfers"]))]


def test_serial_dilution_tips_and_volumes(robot: RobotClient) -> None:
    _, session = run_to_end(robot, DILUTION, DILUTION_SUPPORT)
    timeline = Timeline.from_session(session)
    plate, reservoir, tips = expected_dilution()
    assert well_volumes(timeline, 2) == plate
    assert well_volumes(timeline, 3) == {"A1": reservoir}
    assert timeline.used_tips() == [(1, w) for w in tip_order(tips)]
    summary = timeline.summary().set_index("slot")
    assert summary.loc[1, "tips_used"] == tips and summary.loc[1, "tips_left"] == 96 - tips
    assert summary.loc[2, "net"] == sum(plate.values())
    # the state after each tip change, step by step: one tip on the pipette at a time
    holding = [len(timeline.state(n).pipettes["right"].tips) for n in range(len(timeline) + 1)]
    assert max(holding) == 1 and holding[-1] == 0


def test_two_pipettes_from_step_texts(robot: RobotClient) -> None:
    """8 nozzles into a 384-well plate (every other row), a 96-well column and a reservoir;
    the single-channel's transfer; which pipette did each step, from texts alone."""
    source = PROTOCOLS / "deck_two_pipettes.py"
    namespace: dict[str, object] = {}
    exec(compile(source.read_text().split("def run", 1)[0], str(source), "exec"), namespace)
    to384, to96, single = (
        float(namespace[k]) for k in ("MULTI_TO_384", "MULTI_TO_96", "SINGLE_VOLUME")
    )  # type: ignore[arg-type]
    uploaded = robot.upload(source)
    session = robot.create_session(uploaded.id)
    session.wait_for("loaded", timeout=60)
    timeline = Timeline.from_session(session)  # the load simulation: no run needed
    assert timeline.phase == "load" and timeline.unread == []
    assert well_volumes(timeline, 3) == {f"{r}1": to384 for r in "ACEGIKMO"}
    assert well_volumes(timeline, 5) == {**{f"{r}2": to96 for r in "ABCDEFGH"}, "A1": single}
    assert well_volumes(timeline, 2) == {"A1": -8 * (to384 + to96), "A2": -single}
    assert timeline.used_tips() == [(1, f"{r}1") for r in "ABCDEFGH"] + [(4, "A1")]
    mounts = {s.command: set() for s in timeline.steps}
    for step, mount in zip(timeline.steps, timeline.step_mounts, strict=True):
        mounts[step.command].add((mount, step.location.slot if step.location else None))
    assert mounts["PICK_UP_TIP"] == {("left", 1), ("right", 4)}
    assert ("left", 3) in mounts["DISPENSE"] and ("right", 5) in mounts["DISPENSE"]
    assert ("left", 5) in mounts["DISPENSE"]


# -- drawing -------------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def labware_group(root: ET.Element, slot: int) -> ET.Element:
    found = [
        g
        for g in root.iter(f"{SVG}g")
        if "ot2-labware" in (g.get("class") or "").split() and g.get("data-slot") == str(slot)
    ]
    assert len(found) == 1, f"one labware group for slot {slot}, found {len(found)}"
    return found[0]


def test_svg_draws_every_well_and_the_state(robot: RobotClient) -> None:
    _, session = run_to_end(robot, DILUTION, DILUTION_SUPPORT)
    timeline = Timeline.from_session(session)
    renderer = DeckRenderer(timeline.layout)
    root = parse(renderer.svg(timeline.state(), theme="light"))
    plate = labware_group(root, 2)
    wells = [e for e in plate if (e.get("class") or "") == "ot2-well"]
    assert len(wells) == 96 and {e.tag for e in wells} == {f"{SVG}circle"}
    assert len({e.get("data-well") for e in wells}) == 96
    reservoir = labware_group(root, 3)
    assert Counter(e.tag for e in reservoir if e.get("class") == "ot2-well") == {f"{SVG}rect": 12}
    assert "ot2-tiprack" in (labware_group(root, 1).get("class") or "")
    # the state: one fill per well with liquid, used tips marked
    plate_wells, _, tips = expected_dilution()
    fills = [e for e in root.iter() if (e.get("class") or "") in ("ot2-fill", "ot2-fill-drawn")]
    assert {(e.get("data-slot"), e.get("data-well")) for e in fills} == {
        *(("2", w) for w, v in plate_wells.items() if v),
        ("3", "A1"),
    }
    used = [e for e in root.iter() if e.get("class") == "ot2-tip-used"]
    assert sorted(e.get("data-well") for e in used) == sorted(tip_order(tips))
    # the last step (dropping the tip) is highlighted in the trash
    assert any(e.get("class") == "ot2-hl-place" and e.get("data-slot") == "12" for e in root.iter())
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "ot2-labware-label"]
    assert any(label and "Corning 96 Well Plate" in label for label in labels)
    # the state changes with the step shown
    first = parse(renderer.state_svg(timeline.state(1)))
    assert [
        e.get("class")
        for e in first.iter()
        if e.get("data-well") == "A1" and e.get("data-slot") == "1"
    ] == [
        "ot2-tip-inuse",
        "ot2-hl-place",
    ]
    png = png_bytes(renderer.svg(timeline.state(), theme="light"), scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_thermocycler_spans_its_four_slots(robot: RobotClient) -> None:
    uploaded = robot.upload(PROTOCOLS / "thermocycler_module.py")
    layout = DeckLayout.from_protocol(uploaded)
    root = parse(deck_svg(layout))
    modules = [g for g in root.iter(f"{SVG}g") if g.get("class") == "ot2-module"]
    assert len(modules) == 1
    assert modules[0].get("data-slots") == "7 8 10 11"
    covered = {
        r.get("data-slot")
        for r in root.iter(f"{SVG}rect")
        if "ot2-slot-covered" in (r.get("class") or "")
    }
    assert covered == {"8", "10", "11"}
    body = next(r for r in modules[0] if r.get("class") == "ot2-module-body")
    plate = labware_group(root, 7)
    outline = next(r for r in plate if r.get("class") == "ot2-labware-outline")
    # the plate sits inside the module body, which is wider and deeper than one slot
    bx, by, bw, bh = (float(body.get(k) or 0) for k in ("x", "y", "width", "height"))
    px, py, pw, ph = (float(outline.get(k) or 0) for k in ("x", "y", "width", "height"))
    assert bw > 128 and bh > 2 * 86
    assert bx <= px and px + pw <= bx + bw and by <= py and py + ph <= by + bh
    assert len([e for e in plate if e.get("class") == "ot2-well"]) == 96


def test_custom_labware_from_its_definition(robot: RobotClient) -> None:
    definition = PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"
    uploaded = robot.upload(PROTOCOLS / "custom_labware.py", support=[definition])
    assert not uploaded.errors, uploaded.errors
    without = DeckLayout.from_protocol(uploaded)
    root = parse(deck_svg(without))
    box = labware_group(root, 1)
    assert "ot2-unknown" in (box.get("class") or "")
    assert [e for e in box if e.get("class") == "ot2-well"] == []
    labels = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "ot2nb_6_tuberack_5000ul" in labels  # a labelled box, not nothing
    with_definition = DeckLayout.from_protocol(uploaded, definitions=[definition])
    root = parse(deck_svg(with_definition))
    for slot in (1, 3):  # on the deck, and on the temperature module
        group = labware_group(root, slot)
        assert "ot2-custom" in (group.get("class") or "")
        names = sorted(e.get("data-well") or "" for e in group if e.get("class") == "ot2-well")
        assert names == ["A1", "A2", "A3", "B1", "B2", "B3"]
    session = robot.create_session(uploaded.id)
    session.wait_for("loaded", timeout=60)
    timeline = Timeline.from_session(session, with_definition)
    # custom_labware.py: 500 µL from the rack's A1 into each of the six cold tubes
    assert well_volumes(timeline, 3) == {w: 500.0 for w in ["A1", "B1", "A2", "B2", "A3", "B3"]}
    assert well_volumes(timeline, 1) == {"A1": -3000.0}
    assert re.search(r'data-model="temperatureModuleV2"', deck_svg(with_definition))
