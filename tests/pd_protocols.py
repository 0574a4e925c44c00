"""Protocol Designer JSON protocols for the tests, built here from the standard labware
definitions of the installed ``opentrons-shared-data`` (read as files, so the test side
imports nothing of opentrons).

A Protocol Designer export holds the labware definitions it uses; :func:`transfer_protocol`
writes such a protocol in schema 3, 4 or 5 (what robot software 4.x runs) or 6 (what it
refuses): a tip rack, a plate, a p300 single on the right, one transfer and a short delay.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

TIPRACK = "opentrons_96_tiprack_300ul"
PLATE = "corning_96_wellplate_360ul_flat"
PIPETTE = "p300_single_gen2"


def _definition(load_name: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("opentrons_shared_data")
    assert spec is not None and spec.submodule_search_locations, "opentrons-shared-data missing"
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    return json.loads((root / "labware" / "definitions" / "2" / load_name / "1.json").read_text())


def _access(labware: str, well: str) -> dict[str, Any]:
    return {"pipette": "pipette", "labware": labware, "well": well}


def transfer_protocol(schema: int = 3, *, name: str = "PD transfer") -> dict[str, Any]:
    """A small transfer protocol as Protocol Designer would export it in ``schema``."""
    tiprack, plate = _definition(TIPRACK), _definition(PLATE)
    tiprack_id = f"opentrons/{TIPRACK}/1"
    plate_id = f"opentrons/{PLATE}/1"
    liquid = {"flowRate": 46.43, "offsetFromBottomMm": 1, "volume": 50}
    commands: list[dict[str, Any]] = [
        {"command": "pickUpTip", "params": _access("tips", "A1")},
        {"command": "aspirate", "params": {**_access("plate", "A1"), **liquid}},
        {"command": "dispense", "params": {**_access("plate", "B1"), **liquid}},
        {"command": "delay", "params": {"wait": 2}},
        {"command": "dropTip", "params": _access("trash", "A1")},
    ]
    protocol: dict[str, Any] = {
        "schemaVersion": schema,
        "metadata": {"protocolName": name, "author": "ot2_notebook tests", "description": ""},
        "robot": {"model": "OT-2 Standard"},
        "pipettes": {"pipette": {"mount": "right", "name": PIPETTE}},
        "labware": {
            "trash": {
                "slot": "12",
                "displayName": "Trash",
                "definitionId": "opentrons/opentrons_1_trash_1100ml_fixed/1",
            },
            "tips": {"slot": "1", "displayName": "Tips", "definitionId": tiprack_id},
            "plate": {"slot": "2", "displayName": "Sample plate", "definitionId": plate_id},
        },
        "labwareDefinitions": {
            "opentrons/opentrons_1_trash_1100ml_fixed/1": _definition(
                "opentrons_1_trash_1100ml_fixed"
            ),
            tiprack_id: tiprack,
            plate_id: plate,
        },
        "commands": commands,
    }
    if schema >= 4:
        protocol["$otSharedSchema"] = f"#/protocol/schemas/{schema}"
        protocol["modules"] = {}
    if schema >= 6:
        protocol["robot"]["deckId"] = "ot2_standard"
    return protocol


def write(path: Path, schema: int = 3, **options: Any) -> Path:
    path.write_text(json.dumps(transfer_protocol(schema, **options), indent=1))
    return path
