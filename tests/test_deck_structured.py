"""The simulator's structured step data (SPEC §6, last row), end to end over real HTTP and the
real feed: every step's start carries it in ``GET /sessions`` and on ``session_events``, the
client parses it, and the deck timeline built from it is the timeline built from the step
texts alone (what a real 4.x robot sends) for one-pipette protocols, while with two pipettes
it names the pipette the texts can only guess.

What each protocol does is worked out here from the protocol itself (its constants, its
settings file), not from the code under test.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ot2_notebook.client import RobotClient, Session, SessionWatcher
from ot2_notebook.client.models import SessionEvent, StepEvent
from ot2_notebook.client.reconcile import run_steps
from ot2_notebook.deck import DeckLayout, Timeline
from ot2_notebook.deck.steps import Step
from ot2_notebook.step_data import StructuredStep
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS
from tests.test_sim_runs import Feed, state_change

SEED = (
    PROTOCOLS / "basic_transfer.py",
    [PROTOCOLS / "helpers.py", PROTOCOLS / "basic_transfer_config.json"],
)
CUSTOM = PROTOCOLS / "ot2nb_6_tuberack_5000ul.json"

#: One-pipette protocols: (protocol, support files, custom labware definitions).
ONE_PIPETTE = {
    "seed example": (*SEED, []),
    "serial dilution": (DILUTION, DILUTION_SUPPORT, []),
    "every step, API 2.16": (PROTOCOLS / "deck_every_step.py", [], []),
    "custom labware on a module": (PROTOCOLS / "custom_labware.py", [CUSTOM], [CUSTOM]),
    "8-channel, API 2.15": (PROTOCOLS / "pe_level.py", [], []),
    "temperature module": (PROTOCOLS / "temperature_module.py", [], []),
}
#: The pipettes a protocol needs beyond the simulator's default hardware (the tutorials').
HARDWARE = {
    "custom labware on a module": {"left": "p1000_single_gen2"},
    "8-channel, API 2.15": {"right": "p300_multi_gen2"},
}
#: What the two-pipette protocols load.
TWO_PIPETTES = {"left": "p20_multi_gen2"}


def constants(path: Path) -> dict[str, Any]:
    """The module-level constants of a test protocol (what the test derives results from)."""
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text().split("def run", 1)[0], str(path), "exec"), namespace)
    return namespace


def texts_only(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events as a real 4.x robot sends them: ``params`` with the text alone."""
    stripped = []
    for event in events:
        params = event.get("params")
        if isinstance(params, Mapping):
            params = {k: v for k, v in params.items() if k != "structured"}
        stripped.append({**event, "params": params})
    return stripped


def raw_events(session: Session) -> list[dict[str, Any]]:
    return list(session.refresh().data.raw["details"]["events"])


def finished_session(
    robot: RobotClient, protocol: Path, support: list[Path]
) -> tuple[Any, Session]:
    uploaded = robot.upload(protocol, support=support)
    assert not uploaded.errors, uploaded.errors
    session = robot.create_session(uploaded.id).wait_for("loaded", timeout=120)
    session.start()
    session.wait_for("finished", timeout=180)
    return uploaded, session


def facts(step: Step) -> tuple[Any, ...]:
    """What a step says, whichever way it was read (labware named by slot)."""
    place = step.location
    return (
        step.command,
        step.depth,
        step.parent,
        step.volume,
        step.flow_rate,
        (place.slot, place.well) if place is not None else None,
        tuple((t.slot, t.well) for t in step.targets),
    )


def assert_same_deck(structured: Timeline, texts: Timeline) -> None:
    assert len(structured) == len(texts) > 0
    assert all(s.structured for s in structured.steps), "a step without structured data"
    assert not any(s.structured for s in texts.steps)
    assert structured.unread == [] and texts.unread == []
    for data, text in zip(structured.steps, texts.steps, strict=True):
        if text.location is None and data.command in ("MIX",):
            # the data knows more than the words: the well a mix happens in
            assert data.location is not None
            data = dataclasses.replace(data, location=None)
        assert facts(data) == facts(text), (data, text)
    assert structured.step_mounts == texts.step_mounts
    pd.testing.assert_frame_equal(structured.volumes(), texts.volumes())
    pd.testing.assert_frame_equal(structured.tips(), texts.tips())
    pd.testing.assert_frame_equal(structured.pipettes(), texts.pipettes())
    pd.testing.assert_frame_equal(structured.summary(), texts.summary())
    for n in range(0, len(structured) + 1, 7):  # and step by step, not only at the end
        assert structured.state(n).tips == texts.state(n).tips
        assert structured.state(n).volumes == texts.state(n).volumes


# -- one pipette: the structured data and the texts tell the same story --------------------------


@pytest.mark.parametrize("name", list(ONE_PIPETTE))
def test_one_pipette_timeline_from_structured_data_equals_the_one_from_texts(
    robot: RobotClient, robot_with: Callable[..., RobotClient], name: str
) -> None:
    protocol, support, definitions = ONE_PIPETTE[name]
    fitted = robot_with(**HARDWARE[name]) if name in HARDWARE else robot
    uploaded, session = finished_session(fitted, protocol, support)
    layout = DeckLayout.from_protocol(uploaded, definitions=definitions)
    events = raw_events(session)
    [pipette] = uploaded.equipment.pipettes
    for which in ("load", "run"):
        structured = Timeline.from_events(layout, events, which=which)
        texts = Timeline.from_events(layout, texts_only(events), which=which)
        assert structured.phase == texts.phase == which
        assert_same_deck(structured, texts)
        named = {(s.mount, s.pipette_name, s.channels) for s in structured.steps if s.mount}
        assert named == {(pipette.mount, pipette.pipette_name, pipette.channels)}


def test_every_start_event_carries_the_steps_data_and_no_end_event_does(
    robot: RobotClient,
) -> None:
    uploaded, session = finished_session(robot, PROTOCOLS / "deck_every_step.py", [])
    events = [e for e in raw_events(session) if e["source"] == "protocol"]
    starts = [e for e in events if e["event"].endswith(".start")]
    assert all(e["params"] is None for e in events if e["event"].endswith(".end"))
    for event in starts:
        data = event["params"]["structured"]
        assert event["event"] == f"command.{data['command']}.start"
        assert isinstance(event["params"]["text"], str) and event["params"]["text"]
    by_command: dict[str, dict[str, Any]] = {}  # each command's first step
    for event in starts:
        by_command.setdefault(
            event["params"]["structured"]["command"], event["params"]["structured"]
        )
    # the step's place as the robot knows it, not as the text words it
    assert by_command["DROP_TIP_IN_DISPOSAL_LOCATION"]["location"] == {
        "slot": 12,
        "labware": None,
        "well": None,
    }
    assert by_command["MOVE_TO"]["location"] == {
        "slot": 3,
        "labware": "corning_96_wellplate_360ul_flat",
        "well": "C1",
    }
    assert "location" not in by_command["TOUCH_TIP"]  # opentrons' payload names no place
    assert by_command["AIR_GAP"]["volume"] == 10.0 and by_command["MIX"]["volume"] == 30.0
    assert by_command["DELAY"] == {"command": "DELAY", "seconds": 1.0}
    assert by_command["ASPIRATE"]["flowRate"] == 92.86  # p300 single GEN2's default rate
    # the seconds are opentrons' estimate of each step: they add up to the analysis' total
    load = starts[: len(starts) // 2]
    run = starts[len(starts) // 2 :]
    assert sum(e["params"]["structured"]["seconds"] for e in load) == pytest.approx(
        uploaded.data.estimated_duration, abs=1e-3
    )  # (the analysis rounds to ms)
    # a run's steps are estimated before they run: the same figures as the load's
    assert [e["params"]["structured"] for e in run] == [e["params"]["structured"] for e in load]


# -- two pipettes: the structured data says which one ---------------------------------------------


def wells(frame: pd.DataFrame, slot: int) -> dict[str, float]:
    frame = frame[frame["slot"] == slot]
    return dict(zip(frame["well"], frame["volume"], strict=True))


def test_two_pipettes_each_step_names_its_pipette(robot: RobotClient) -> None:
    source = PROTOCOLS / "deck_two_pipettes.py"
    uploaded = robot.upload(source)
    session = robot.create_session(uploaded.id).wait_for("loaded", timeout=120)
    timeline = Timeline.from_session(session)
    # the protocol: six steps of the 8-channel on the left, then five of the single (its
    # transfer groups an aspirate and a dispense: no pipetting of its own on the deck)
    assert [s.mount for s in timeline.steps] == ["left"] * 6 + ["right"] * 5
    assert [s.channels for s in timeline.steps] == [8] * 6 + [1] * 5
    assert timeline.step_mounts == ["left"] * 6 + ["right", None, "right", "right", "right"]
    texts = Timeline.from_events(timeline.layout, texts_only(raw_events(session)))
    assert texts.step_mounts == timeline.step_mounts  # here the texts' guess is right
    pd.testing.assert_frame_equal(timeline.volumes(), texts.volumes())


def test_two_pipettes_taking_turns_where_the_texts_guess_wrong(robot: RobotClient) -> None:
    source = PROTOCOLS / "deck_two_pipettes_interleaved.py"
    multi, single = (constants(source)[k] for k in ("MULTI_VOLUME", "SINGLE_VOLUME"))
    uploaded = robot.upload(source)
    session = robot.create_session(uploaded.id).wait_for("loaded", timeout=120)
    timeline = Timeline.from_session(session)
    # the protocol, line by line: pick-up, pick-up, multi x2, single x2, drop, drop
    expected = ["left", "right", "left", "left", "right", "right", "left", "right"]
    assert timeline.step_mounts == expected
    volumes = timeline.volumes()
    assert wells(volumes, 2) == {"A1": -8 * multi, "A2": -single}
    assert wells(volumes, 5) == {**{f"{r}2": multi for r in "ABCDEFGH"}, "A1": single}
    assert timeline.used_tips() == [(1, f"{r}1") for r in "ABCDEFGH"] + [(4, "A1")]
    after_aspirate = timeline.pipettes(3).set_index("mount")
    assert after_aspirate.loc["left", "liquid"] == multi
    assert after_aspirate.loc["right", "liquid"] == 0.0
    # what a real 4.x robot's texts give: the last pipette to pick up a tip is taken
    texts = Timeline.from_events(timeline.layout, texts_only(raw_events(session)))
    assert texts.step_mounts != expected
    assert wells(texts.volumes(), 2) != wells(volumes, 2)


# -- the feed and the client -----------------------------------------------------------------------


def test_feed_frames_carry_the_structured_data_of_each_start(
    robot_with: Callable[..., RobotClient],
) -> None:
    robot = robot_with(**TWO_PIPETTES)
    robot_url = robot.base_url
    uploaded = robot.upload(PROTOCOLS / "deck_two_pipettes.py")
    session = robot.create_session(uploaded.id).wait_for("loaded", timeout=120)
    seen: list[StepEvent] = []
    lock = threading.Lock()

    def on_step(step: StepEvent) -> None:
        with lock:
            seen.append(step)

    feed = Feed(robot_url, "session_events")
    watcher = SessionWatcher(robot, session.id, on_step=on_step)
    try:
        session.start()
        frames = feed.until(state_change(session.id, "finished"))
        watcher.wait_for("finished", timeout=120)
    finally:
        feed.close()
        watcher.close()
    steps = [f["event"]["data"] for f in frames if f["event"]["data"]["type"] == "ProtocolStep"]
    starts = [s for s in steps if s["event"].endswith(".start")]
    assert len(starts) == 11
    assert not any("structured" in s for s in steps if s["event"].endswith(".end"))
    # the frame's data is the start event's, as GET /sessions shows it
    logged = {
        e["commandId"]: e["params"]["structured"]
        for e in raw_events(session)
        if e["source"] == "protocol" and e["event"].endswith(".start")
    }
    assert [s["structured"] for s in starts] == [logged[s["commandId"]] for s in starts]
    assert [s["structured"]["pipette"]["mount"] for s in starts] == ["left"] * 6 + ["right"] * 5
    # the client's StepEvent parses it, from the feed as from a snapshot
    with lock:
        fed = [s for s in seen if s.phase == "start"]
    assert [s.structured.mount if s.structured else None for s in fed] == (
        ["left"] * 6 + ["right"] * 5
    )
    assert all(s.structured is None for s in seen if s.phase == "end")
    snapshot = run_steps(session.id, session.refresh().data.events)
    assert [s.structured for s in snapshot if s.phase == "start"] == [s.structured for s in fed]
    first = fed[0].structured
    assert first == StructuredStep(
        command="PICK_UP_TIP",
        mount="left",
        pipette_name="p20_multi_gen2",
        channels=8,
        slot=1,
        labware="opentrons_96_tiprack_20ul",
        well="A1",
        has_location=True,
        seconds=first.seconds if first else None,
    )
    assert first is not None and first.seconds and first.seconds > 0


def test_the_client_reads_structured_data_tolerantly() -> None:
    event = SessionEvent.from_json(
        {
            "source": "protocol",
            "event": "command.ASPIRATE.start",
            "commandId": "3",
            "params": {
                "text": "Aspirating 5.0 uL from A1 of X on 2 at 7.6 uL/sec",
                "structured": {
                    "command": "ASPIRATE",
                    "pipette": {"mount": "left", "channels": 8},
                    "volume": 5,
                    "location": {"slot": 2, "labware": "x", "well": "A1"},
                },
            },
        }
    )
    assert event.structured is not None
    assert (event.structured.mount, event.structured.volume, event.structured.slot) == (
        "left",
        5.0,
        2,
    )
    # a real 4.x robot's event, and data a newer simulator might garble: no structured data
    assert SessionEvent.from_json({"params": {"text": "t"}}).structured is None
    assert SessionEvent.from_json({"params": {"structured": {"volume": 3}}}).structured is None
    assert StepEvent.from_feed("s", {"event": "command.X.start"}).structured is None
    frame = {"event": "command.DELAY.start", "structured": {"command": "DELAY", "seconds": 2}}
    assert StepEvent.from_feed("s", frame).structured == StructuredStep("DELAY", seconds=2.0)
