"""A small JSON protocol (schema 3, as the Protocol Designer wrote for robot software 4.x),
built from the standard labware definitions of the installed ``opentrons_shared_data``."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

_DEFINITIONS = "data/labware/definitions/2"


def _definition(load_name: str) -> dict[str, Any]:
    root = importlib.resources.files("opentrons_shared_data") / _DEFINITIONS
    return dict(json.loads((root / load_name / "1.json").read_text(encoding="utf-8")))


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
        "labwareDefinitions": {f"opentrons/{name}/1": _definition(name) for name in names},
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
