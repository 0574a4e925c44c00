"""The advanced settings of robot software 8 on an OT-2 (``GET /settings``, recording 00).

Their values change nothing in the simulation; they are kept so that clients that read or
set them (the Opentrons App does) see a robot that remembers.
"""

from __future__ import annotations

import threading
from typing import Any

_SETTINGS: tuple[tuple[str, str | None, str, str], ...] = (
    (
        "shortFixedTrash",
        "short-fixed-trash",
        "Short (55mm) fixed trash",
        "Trash box is 55mm tall (rather than the 77mm default)",
    ),
    (
        "deckCalibrationDots",
        "dots-deck-type",
        "Deck calibration to dots",
        "Perform deck calibration to dots rather than crosses, for robots that do not have "
        "crosses etched on the deck",
    ),
    (
        "disableHomeOnBoot",
        "disable-home-on-boot",
        "Disable home on boot",
        "Prevent robot from homing motors on boot",
    ),
    (
        "useOldAspirationFunctions",
        None,
        "Use older aspirate behavior",
        "Aspirate with the less accurate volumetric calibrations that were used before version "
        "3.7.0. Use this if you need consistency with pre-v3.7.0 results. This only affects "
        "GEN1 P10S, P10M, P50S, P50M, and P300S pipettes.",
    ),
    (
        "enableDoorSafetySwitch",
        None,
        "Enable robot door safety switch",
        "Automatically pause protocols when robot door opens. Opening the robot door during a "
        "run will pause your robot only after it has completed its current motion.",
    ),
)


class AdvancedSettings:
    def __init__(self) -> None:
        self._values: dict[str, bool | None] = {s[0]: None for s in _SETTINGS}
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        return [s[0] for s in _SETTINGS]

    def body(self) -> dict[str, Any]:
        with self._lock:
            values = dict(self._values)
        return {
            "settings": [
                {
                    "id": setting_id,
                    "old_id": old_id,
                    "title": title,
                    "description": description,
                    "restart_required": False,
                    "value": values[setting_id],
                }
                for setting_id, old_id, title, description in _SETTINGS
            ],
            "links": {},
        }

    def set(self, setting_id: str, value: bool | None) -> bool:
        """Change a setting; ``False`` if there is no such setting."""
        with self._lock:
            if setting_id not in self._values:
                return False
            self._values[setting_id] = value
            return True
