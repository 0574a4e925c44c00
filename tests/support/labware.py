"""Build small, valid custom labware definitions (schema 2) for tests and tutorials.

A real lab would make these with the Opentrons Labware Creator; for tests we need a few
simple grids with known names, so we generate them.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any


def grid_labware(
    load_name: str,
    display_name: str,
    *,
    rows: int,
    columns: int,
    well_volume_ul: float,
    well_diameter_mm: float,
    well_depth_mm: float,
    spacing_mm: float,
    height_mm: float = 60.0,
    namespace: str = "ot2_notebook",
) -> dict[str, Any]:
    """A rack or plate of round wells on a regular grid, centred on an OT-2 slot."""
    x_dim, y_dim = 127.76, 85.48
    x0 = (x_dim - spacing_mm * (columns - 1)) / 2
    y0 = (y_dim + spacing_mm * (rows - 1)) / 2
    names = [[f"{string.ascii_uppercase[r]}{c + 1}" for r in range(rows)] for c in range(columns)]
    wells = {
        f"{string.ascii_uppercase[r]}{c + 1}": {
            "depth": well_depth_mm,
            "totalLiquidVolume": well_volume_ul,
            "shape": "circular",
            "diameter": well_diameter_mm,
            "x": round(x0 + c * spacing_mm, 2),
            "y": round(y0 - r * spacing_mm, 2),
            "z": round(height_mm - well_depth_mm, 2),
        }
        for c in range(columns)
        for r in range(rows)
    }
    return {
        "ordering": names,
        "brand": {"brand": "ot2_notebook", "brandId": [load_name]},
        "metadata": {
            "displayName": display_name,
            "displayCategory": "tubeRack",
            "displayVolumeUnits": "µL",
            "tags": [],
        },
        "dimensions": {"xDimension": x_dim, "yDimension": y_dim, "zDimension": height_mm},
        "wells": wells,
        "groups": [{"metadata": {"wellBottomShape": "flat"}, "wells": list(wells)}],
        "parameters": {
            "format": "irregular",
            "quirks": [],
            "isTiprack": False,
            "isMagneticModuleCompatible": False,
            "loadName": load_name,
        },
        "namespace": namespace,
        "version": 1,
        "schemaVersion": 2,
        "cornerOffsetFromSlot": {"x": 0, "y": 0, "z": 0},
    }


def write(definition: dict[str, Any], folder: Path) -> Path:
    path = folder / f"{definition['parameters']['loadName']}.json"
    path.write_text(json.dumps(definition, indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # regenerate the committed example definition
    here = Path(__file__).resolve().parent.parent / "protocols"
    write(
        grid_labware(
            "ot2nb_6_tuberack_5000ul",
            "ot2_notebook 6 Tube Rack 5 mL",
            rows=2,
            columns=3,
            well_volume_ul=5000,
            well_diameter_mm=14.0,
            well_depth_mm=40.0,
            spacing_mm=35.0,
            height_mm=45.0,
        ),
        here,
    )
