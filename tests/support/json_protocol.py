"""Build a small JSON protocol (schema version 3, as the Opentrons Protocol Designer wrote
them) for tests: a tip rack, a plate and the fixed trash, one transfer per given well pair
(`json_protocol`), or one small transfer with Protocol Designer display names (`json_transfer`).

The labware definitions are read from the installed ``opentrons_shared_data`` when the test
runs (so nothing of theirs is committed here); the simulator's environment has it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TIPRACK = "opentrons_96_tiprack_300ul"
PLATE = "corning_96_wellplate_360ul_flat"
TRASH = "opentrons_1_trash_1100ml_fixed"


def _definition(load_name: str) -> tuple[str, dict[str, Any]]:
    from opentrons_shared_data.labware import load_definition

    definition = dict(load_definition(load_name, 1))
    return f"opentrons/{load_name}/1", definition


def json_protocol(name: str, pairs: list[tuple[str, str]], volume: float = 50.0) -> dict[str, Any]:
    definitions = dict(_definition(n) for n in (TIPRACK, PLATE, TRASH))
    commands: list[dict[str, Any]] = []
    access = {"pipette": "pipette", "labware": "plate"}
    for index, (source, target) in enumerate(pairs):
        tip = {"pipette": "pipette", "labware": "tips", "well": f"{'ABCDEFGH'[index % 8]}1"}
        commands.append({"command": "pickUpTip", "params": tip})
        for kind, well in (("aspirate", source), ("dispense", target)):
            commands.append(
                {
                    "command": kind,
                    "params": {
                        **access,
                        "well": well,
                        "volume": volume,
                        "flowRate": 46.43,
                        "offsetFromBottomMm": 1,
                    },
                }
            )
        trash = {"pipette": "pipette", "labware": "trash", "well": "A1"}
        commands.append({"command": "dropTip", "params": trash})
    return {
        "schemaVersion": 3,
        "metadata": {"protocolName": name, "author": "ot2_notebook tests", "description": None},
        "robot": {"model": "OT-2 Standard"},
        "pipettes": {"pipette": {"mount": "left", "name": "p300_single_gen2"}},
        "labwareDefinitions": definitions,
        "labware": {
            "tips": {"slot": "1", "definitionId": f"opentrons/{TIPRACK}/1"},
            "plate": {"slot": "2", "definitionId": f"opentrons/{PLATE}/1"},
            "trash": {"slot": "12", "definitionId": f"opentrons/{TRASH}/1"},
        },
        "commands": commands,
    }


def write_json_protocol(folder: Path, name: str, pairs: list[tuple[str, str]]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(json_protocol(name, pairs)), encoding="utf-8")
    return path


def json_transfer(pipette: str = "p20_single_gen2", mount: str = "left") -> bytes:
    """One tip, 5 µL from A1 to B1 of a plate labelled "Source Plate"; the labware carry the
    display names a Protocol Designer user gave them ("Trash", "Opentrons 96 Tip Rack 20 µL")."""
    names = (
        "opentrons_1_trash_1100ml_fixed",
        "opentrons_96_tiprack_20ul",
        "corning_96_wellplate_360ul_flat",
    )
    protocol = {
        "schemaVersion": 3,
        "metadata": {"protocolName": "JSON transfer", "author": "ot2_notebook tests"},
        "robot": {"model": "OT-2 Standard"},
        "pipettes": {"pipetteId": {"mount": mount, "name": pipette}},
        "labware": {
            "trashId": {
                "slot": "12",
                "displayName": "Trash",
                "definitionId": f"opentrons/{names[0]}/1",
            },
            "plateId": {
                "slot": "3",
                "displayName": "Source Plate",
                "definitionId": f"opentrons/{names[2]}/1",
            },
            "tiprackId": {
                "slot": "1",
                "displayName": "Opentrons 96 Tip Rack 20 µL",
                "definitionId": f"opentrons/{names[1]}/1",
            },
        },
        "labwareDefinitions": dict(_definition(name) for name in names),
        "commands": [
            {
                "command": "pickUpTip",
                "params": {"pipette": "pipetteId", "labware": "tiprackId", "well": "A1"},
            },
            {
                "command": "aspirate",
                "params": {
                    "pipette": "pipetteId",
                    "volume": 5,
                    "labware": "plateId",
                    "well": "A1",
                    "offsetFromBottomMm": 1,
                    "flowRate": 3.78,
                },
            },
            {
                "command": "dispense",
                "params": {
                    "pipette": "pipetteId",
                    "volume": 5,
                    "labware": "plateId",
                    "well": "B1",
                    "offsetFromBottomMm": 1,
                    "flowRate": 3.78,
                },
            },
            {
                "command": "dropTip",
                "params": {"pipette": "pipetteId", "labware": "trashId", "well": "A1"},
            },
        ],
    }
    return json.dumps(protocol, ensure_ascii=False).encode("utf-8")
