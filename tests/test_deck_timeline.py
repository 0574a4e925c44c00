"""The deck timeline as data: step texts (real robot-server 4.7 recordings, opentrons 8
templates), structured step data, tips and volumes per well, multi-channel nozzles, and the
checkpointed replay. No simulator: these read recorded and hand-built step events."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook.client.models import Equipment, Labware, Pipette, ProtocolData
from ot2_notebook.deck import DeckLayout, Timeline
from ot2_notebook.deck.steps import make_step, parse_location, parse_text, select_steps
from ot2_notebook.step_data import parse_structured, structured_params

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "robot-server-4"


def recording(name: str) -> tuple[ProtocolData, list[dict[str, Any]], dict[str, str]]:
    """The protocol, the final session events and the uploaded files of a recorded run."""
    data = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    protocol = events = None
    files: dict[str, str] = {}
    for exchange in data["exchanges"]:
        for part in exchange["request"].get("multipart") or []:
            files[part["filename"]] = part.get("text", "")
        body = (exchange.get("response") or {}).get("json") or {}
        item = body.get("data")
        if isinstance(item, dict) and "requiredEquipment" in item:
            protocol = ProtocolData.from_json(item)
        if isinstance(item, dict) and isinstance(item.get("details"), dict):
            events = item["details"]["events"]
    assert protocol is not None and events is not None, f"{name}: no protocol or session"
    return protocol, events, files


def tip_order(count: int) -> list[str]:
    """The wells a tip rack gives tips from, in order (column by column, A to H)."""
    return [f"{row}{col}" for col in range(1, 13) for row in "ABCDEFGH"][:count]


# -- the real 4.7 robot's step texts ---------------------------------------------------------


@pytest.mark.parametrize("which", ["load", "run"])
def test_seed_run_from_recorded_47_step_texts(which: str) -> None:
    protocol, events, files = recording("01_seed_happy_path.json")
    config = json.loads(files["basic_transfer_config.json"])
    layout = DeckLayout.from_protocol(protocol)
    timeline = Timeline.from_events(layout, events, which=which)
    assert timeline.phase == which
    assert timeline.unread == []

    # What the protocol does (basic_transfer.py): for each transfer, a fresh tip from the
    # rack in slot 2, aspirate ml from the source well, dispense it into the target well of
    # the plate in slot 1, drop the tip.
    expected: dict[str, float] = {}
    for transfer in config["transfers"]:
        expected[transfer["source_well"]] = (
            expected.get(transfer["source_well"], 0) - transfer["ml"]
        )
        expected[transfer["target_well"]] = (
            expected.get(transfer["target_well"], 0) + transfer["ml"]
        )
    volumes = timeline.volumes()
    assert set(volumes["slot"]) == {1}
    assert dict(zip(volumes["well"], volumes["volume"], strict=True)) == expected
    assert timeline.used_tips() == [(2, w) for w in tip_order(len(config["transfers"]))]
    tips = timeline.tips()
    assert len(tips) == 96 and set(tips["slot"]) == {2}
    assert (tips["state"] == "used").sum() == len(config["transfers"])
    assert timeline.pipettes()["tips"].tolist() == [""]  # the tip went to the trash


def test_long_run_recording_moves_and_one_tip() -> None:
    protocol, events, _ = recording("12_pause_resume_cancel_during_run.json")
    timeline = Timeline.from_events(DeckLayout.from_protocol(protocol), events, which="load")
    assert timeline.unread == []
    commands = [s.command for s in timeline.steps]
    assert commands[0] == "PICK_UP_TIP" and commands[-1] == "DROP_TIP"
    assert commands.count("MOVE_TO") == 60  # 30 x A1 then H12 (long_run.py)
    assert timeline.used_tips() == [(2, "A1")]
    assert timeline.volumes().empty
    middle = timeline.state(2)
    assert middle.tips == {(2, "A1"): "in use"}
    assert middle.places == frozenset({(1, "A1")})


def test_every_recorded_step_text_reads() -> None:
    """Every step text the real 4.7 robot sent in the recordings reads as its template."""
    seen = 0
    for path in sorted(RECORDINGS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for exchange in data["exchanges"]:
            item = ((exchange.get("response") or {}).get("json") or {}).get("data")
            if not (isinstance(item, dict) and isinstance(item.get("details"), dict)):
                continue
            for event in item["details"].get("events") or []:
                text = (event.get("params") or {}).get("text")
                if event.get("source") != "protocol" or not text:
                    continue
                step = make_step(1, event["event"], text)
                assert step.understood, f"{path.name}: {text!r}"
                seen += 1
    assert seen > 50


# -- texts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "volume", "flow", "slot", "well"),
    [
        (
            "ASPIRATE",
            "Aspirating 100.0 uL from A1 of Corning 96 Well Plate 360 µL Flat on 1 at 150.0 uL/sec",
            100.0,
            150.0,
            1,
            "A1",
        ),
        (
            "DISPENSE",
            "Dispensing 20.0 uL into A1 of NEST 96 Well Plate 100 µL PCR Full Skirt on Magnetic "
            "Module GEN2 on 6 at 92.86 uL/sec",
            20.0,
            92.86,
            6,
            "A1",
        ),
        (
            "ASPIRATE",
            "Aspirating 5.0 uL from H12 of my plate on 3 at 7.6 uL/sec while moving to H12 of my "
            "plate on 3",
            5.0,
            7.6,
            3,
            "H12",
        ),
        (
            "PICK_UP_TIP",
            "Picking up tip from B3 of Opentrons 96 Tip Rack 300 µL on 2",
            None,
            None,
            2,
            "B3",
        ),
        ("DROP_TIP", "Dropping tip into A1 of Opentrons Fixed Trash on 12", None, None, 12, "A1"),
        ("DROP_TIP", "Dropping tip into Trash Bin on slot 12", None, None, 12, None),
        ("BLOW_OUT", "Blowing out at A1 of Opentrons Fixed Trash on 12", None, None, 12, "A1"),
        (
            "MOVE_TO",
            "Moving to H12 of Corning 96 Well Plate 360 µL Flat on 1",
            None,
            None,
            1,
            "H12",
        ),
    ],
)
def test_templates(
    command: str, text: str, volume: float | None, flow: float | None, slot: int, well: str | None
) -> None:
    parsed = parse_text(command, text)
    assert parsed.understood
    assert parsed.volume == volume and parsed.flow_rate == flow
    assert parsed.location is not None
    assert (parsed.location.slot, parsed.location.well) == (slot, well)


def test_templates_without_places() -> None:
    assert parse_text("BLOW_OUT", "Blowing out").understood  # 4.7, no location given
    assert parse_text("MIX", "Mixing 3 times with a volume of 50.0 ul").volume == 50.0
    assert parse_text("AIR_GAP", "Air gap of 10 uL").volume == 10.0
    assert parse_text("AIR_GAP", "Air gap").understood
    assert parse_text("DELAY", "Delaying for 1 minutes and 30.0 seconds").seconds == 90.0
    transfer = parse_text(
        "TRANSFER", "Transferring 50.0 from A1 of Res on 3 to A1 of Plate on 2, B1 of Plate on 2"
    )
    assert [(t.slot, t.well) for t in transfer.targets] == [(3, "A1"), (2, "A1")]
    assert not parse_text("ASPIRATE", "Aspirating something odd").understood
    assert parse_location("A1 of a labware on a module") is None


# -- structured step data ------------------------------------------------------------------------


def two_pipette_layout() -> DeckLayout:
    equipment = Equipment(
        pipettes=(
            Pipette("left", "p20_single_gen2", "p20_single_gen2", 1),
            Pipette("right", "p300_single_gen2", "p300_single_gen2", 1),
        ),
        labware=(
            Labware("opentrons_96_tiprack_20ul", "opentrons/opentrons_96_tiprack_20ul/1", 1),
            Labware("opentrons_96_tiprack_300ul", "opentrons/opentrons_96_tiprack_300ul/1", 4),
            Labware(
                "corning_96_wellplate_360ul_flat", "opentrons/corning_96_wellplate_360ul_flat/1", 2
            ),
        ),
    )
    return DeckLayout.from_equipment(equipment)


def event(
    name: str, command_id: int, text: str | None = None, **structured: Any
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"text": text}
    if structured:
        params["structured"] = structured_params(name, **structured)
    return [
        {
            "source": "protocol",
            "event": f"command.{name}.start",
            "commandId": str(command_id),
            "params": params,
        },
        {
            "source": "protocol",
            "event": f"command.{name}.end",
            "commandId": str(command_id),
            "params": None,
        },
    ]


def test_text_guesses_the_pipette_by_tip_size() -> None:
    layout = two_pipette_layout()
    events = [
        *event(
            "PICK_UP_TIP", 1, "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 4"
        ),
        *event("PICK_UP_TIP", 2, "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 20 µL on 1"),
        *event("ASPIRATE", 3, "Aspirating 10.0 uL from A1 of Plate on 2 at 7.6 uL/sec"),
    ]
    timeline = Timeline.from_events(layout, events)
    assert timeline.step_mounts == ["right", "left", "left"]


def test_structured_data_names_the_pipette_and_wins_over_the_text() -> None:
    layout = two_pipette_layout()
    events = [
        *event(
            "PICK_UP_TIP",
            1,
            "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 4",
            mount="right",
            slot=4,
            well="A1",
            labware="opentrons_96_tiprack_300ul",
        ),
        *event(
            "PICK_UP_TIP",
            2,
            "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 20 µL on 1",
            mount="left",
            slot=1,
            well="A1",
        ),
        # the text says A1, the data says B2 of slot 2, done by the right pipette
        *event(
            "ASPIRATE",
            3,
            "Aspirating 10.0 uL from A1 of Plate on 2 at 7.6 uL/sec",
            mount="right",
            volume=30.0,
            slot=2,
            well="B2",
            seconds=4.0,
        ),
        *event("DISPENSE", 4, None, mount="right", volume=30.0, slot=2, well="C2"),
    ]
    timeline = Timeline.from_events(layout, events)
    assert timeline.step_mounts == ["right", "left", "right", "right"]
    assert all(step.structured for step in timeline.steps)
    volumes = timeline.volumes()
    assert dict(zip(volumes["well"], volumes["volume"], strict=True)) == {"B2": -30.0, "C2": 30.0}
    assert timeline.step_seconds(3) == 4.0


def test_parse_structured_is_tolerant() -> None:
    assert parse_structured(None) is None
    assert parse_structured({"volume": 3}) is None  # no command
    data = parse_structured(
        {
            "command": "command.aspirate",
            "volume": "lots",
            "pipette": {"mount": 1, "channels": True},
            "location": {"slot": "3", "well": "A1"},
            "extra": [1, 2],
        }
    )
    assert data is not None
    assert (data.command, data.volume, data.mount, data.channels) == ("ASPIRATE", None, None, None)
    assert (data.slot, data.well, data.has_location) == (3, "A1", True)


# -- nozzles, air gaps, blow-outs ---------------------------------------------------------------


def multichannel_layout() -> DeckLayout:
    equipment = Equipment(
        pipettes=(Pipette("left", "p20_multi_gen2", "p20_multi_gen2", 8),),
        labware=(
            Labware("tips", "opentrons/opentrons_96_tiprack_20ul/1", 1),
            Labware("reservoir", "opentrons/nest_12_reservoir_15ml/1", 2),
            Labware("plate384", "opentrons/corning_384_wellplate_112ul_flat/1", 3),
            Labware("plate96", "opentrons/corning_96_wellplate_360ul_flat/1", 5),
        ),
    )
    return DeckLayout.from_equipment(equipment)


def test_nozzles_reach_a_column() -> None:
    layout = multichannel_layout()
    assert layout.labware[5].wells_under("A3", 8) == tuple(f"{r}3" for r in "ABCDEFGH")
    assert layout.labware[3].wells_under("B2", 8) == tuple(f"{r}2" for r in "BDFHJLNP")
    assert layout.labware[2].wells_under("A4", 8) == ("A4",) * 8
    assert layout.labware[1].wells_under("A12", 8) == tuple(f"{r}12" for r in "ABCDEFGH")


def test_air_gap_mix_and_blow_out() -> None:
    layout = DeckLayout.from_equipment(
        Equipment(
            pipettes=(Pipette("right", "p300_single_gen2", "p300_single_gen2", 1),),
            labware=(
                Labware("tips", "opentrons/opentrons_96_tiprack_300ul/1", 1),
                Labware("plate", "opentrons/corning_96_wellplate_360ul_flat/1", 2),
            ),
        )
    )
    on = "of Corning 96 Well Plate 360 µL Flat on 2"
    events = [
        *event(
            "PICK_UP_TIP", 1, "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 1"
        ),
        *event("ASPIRATE", 2, f"Aspirating 50.0 uL from A1 {on} at 92.86 uL/sec"),
        {
            "source": "protocol",
            "event": "command.AIR_GAP.start",
            "commandId": "3",
            "params": {"text": "Air gap of 10 uL"},
        },
        *event("ASPIRATE", 4, f"Aspirating 10.0 uL from A1 {on} at 92.86 uL/sec"),
        {"source": "protocol", "event": "command.AIR_GAP.end", "commandId": "3", "params": None},
        *event("DISPENSE", 5, f"Dispensing 40.0 uL into B1 {on} at 92.86 uL/sec"),
        {
            "source": "protocol",
            "event": "command.MIX.start",
            "commandId": "6",
            "params": {"text": "Mixing 1 times with a volume of 20.0 ul"},
        },
        *event("ASPIRATE", 7, f"Aspirating 20.0 uL from B1 {on} at 92.86 uL/sec"),
        *event("DISPENSE", 8, f"Dispensing 20.0 uL into B1 {on} at 92.86 uL/sec"),
        {"source": "protocol", "event": "command.MIX.end", "commandId": "6", "params": None},
        *event("BLOW_OUT", 9, f"Blowing out at C1 {on}"),
        *event("RETURN_TIP", 10, "Returning tip"),
        *event("DROP_TIP", 11, "Dropping tip into A1 of Opentrons OT-2 96 Tip Rack 300 µL on 1"),
    ]
    timeline = Timeline.from_events(layout, events)
    assert [s.depth for s in timeline.steps] == [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0]
    # 50 µL drawn from A1 (the air gap's aspirate is air); the 40 µL dispense pushes the
    # 10 µL of air out first, so 30 µL of liquid reach B1; the blow-out puts the last 20 in C1
    volumes = timeline.volumes()
    assert dict(zip(volumes["well"], volumes["volume"], strict=True)) == {
        "A1": -50.0,
        "B1": 30.0,
        "C1": 20.0,
    }
    assert timeline.state(5).pipettes["right"].liquid == 20.0
    assert timeline.tips(used_only=True)["state"].tolist() == ["returned"]
    assert timeline.used_tips() == []


# -- replay ------------------------------------------------------------------------------------


def test_states_from_checkpoints_equal_a_fresh_replay() -> None:
    layout = multichannel_layout()
    rng = random.Random(7)
    events: list[dict[str, Any]] = []
    wells = [f"{r}{c}" for c in range(1, 13) for r in "A"]
    for i in range(300):
        column = rng.choice(wells)
        if i % 3 == 0:
            events += event("PICK_UP_TIP", i, f"Picking up tip from {column} of Tips on 1")
        elif i % 3 == 1:
            events += event(
                "ASPIRATE",
                i,
                f"Aspirating {rng.randint(1, 20)}.0 uL from A{rng.randint(1, 12)} of R on 2 "
                "at 7.6 uL/sec",
            )
        else:
            events += event(
                "DISPENSE", i, f"Dispensing 3.0 uL into {column} of P on 5 at 7.6 uL/sec"
            )
    full = Timeline.from_events(layout, events)
    assert len(full) == 300
    for n in [0, 1, 63, 64, 65, 130, 129, 200, 299, 300, 5]:
        fresh = Timeline.from_events(layout, events[: 2 * n])
        mine, theirs = full.state(n), fresh.state()
        assert (mine.volumes, mine.tips, mine.pipettes) == (
            theirs.volumes,
            theirs.tips,
            theirs.pipettes,
        ), n
    with pytest.raises(IndexError, match="out of range"):
        full.state(301)


def test_select_steps_picks_one_pass() -> None:
    load = event("COMMENT", 1, "load")
    first = event("COMMENT", 2, "first run")
    second = event("COMMENT", 3, "second run")
    command = {"source": "sessionCommand", "event": "protocol.startRun", "commandId": "x"}
    events = [*load, command, *first, dict(command, commandId="y"), *second]
    assert select_steps(events, "load")[1] == load
    assert select_steps(events, "auto") == ("run", second)
    assert select_steps(load, "auto") == ("load", load)
    with pytest.raises(ValueError, match="which"):
        select_steps(events, "latest")


def test_unknown_labware_is_kept_by_name() -> None:
    layout = DeckLayout.from_equipment(
        Equipment(
            pipettes=(Pipette("left", "p300_single_gen2", "p300_single_gen2", 1),),
            labware=(Labware("my_rack", "custom_beta/my_rack/1", 4),),
        )
    )
    assert layout.labware[4].definition is None
    assert any("my_rack" in w for w in layout.warnings)
    timeline = Timeline.from_events(
        layout, event("ASPIRATE", 1, "Aspirating 5.0 uL from B2 of My Rack on 4 at 1.0 uL/sec")
    )
    assert timeline.volumes()[["slot", "well", "volume"]].values.tolist() == [[4, "B2", -5.0]]


def test_a_run_read_mid_step_goes_on_live() -> None:
    """A view that catches up from the session's events mid-transfer keeps the nesting for
    the steps the feed brings next."""
    layout = two_pipette_layout()
    on = "of Corning 96 Well Plate 360 µL Flat on 2"
    so_far = [
        {
            "source": "protocol",
            "event": "command.TRANSFER.start",
            "commandId": "1",
            "params": {"text": f"Transferring 30.0 from A1 {on} to B1 {on}"},
        },
        *event(
            "PICK_UP_TIP", 2, "Picking up tip from A1 of Opentrons OT-2 96 Tip Rack 300 µL on 4"
        ),
    ]
    timeline = Timeline.from_events(layout, so_far)
    timeline.add_event(
        "command.ASPIRATE.start", f"Aspirating 30.0 uL from A1 {on} at 1.0 uL/sec", None, "3"
    )
    timeline.add_event("command.ASPIRATE.end", None, None, "3")
    timeline.add_event("command.TRANSFER.end", None, None, "1")
    timeline.add_event(
        "command.DROP_TIP.start", "Dropping tip into Trash Bin on slot 12", None, "4"
    )
    assert [(s.index, s.depth, s.parent) for s in timeline.steps] == [
        (1, 0, None),
        (2, 1, 1),
        (3, 1, 1),
        (4, 0, None),
    ]
    assert timeline.step_mounts[2] == "right"  # the 300 µL tip went on the p300


def test_module_and_protocol_steps_need_no_reading() -> None:
    for name, text in [
        (
            "TEMPDECK_SET_TEMP",
            "Setting Temperature Module temperature to 4 °C (rounded off to nearest integer)",
        ),
        ("THERMOCYCLER_CLOSE", "Closing Thermocycler lid"),
        ("COMMENT", "put the plate in"),
        ("PAUSE", "Pausing robot operation: load the plate"),
    ]:
        assert make_step(1, f"command.{name}.start", text).understood, name
    assert not make_step(1, "command.PICK_UP_TIP.start", "Picking up a tip somewhere").understood
