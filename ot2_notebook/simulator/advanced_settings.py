"""The robot's advanced settings (``GET/POST /settings``), as robot software 4.7 lists them.

Only ``enableHttpProtocolSessions`` changes the simulator's behaviour; the others are kept
so that clients listing or toggling them see what a real robot shows (recording 00).
``AdvancedSettings`` is the one place the flag is stored; the session manager asks it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ot2_notebook.simulator.errors import InvalidRequest

PROTOCOL_SESSIONS = "enableHttpProtocolSessions"


@dataclass(frozen=True)
class SettingInfo:
    id: str
    old_id: str | None
    title: str
    description: str
    restart_required: bool = False


SETTINGS: tuple[SettingInfo, ...] = (
    SettingInfo(
        "shortFixedTrash",
        "short-fixed-trash",
        "Short (55mm) fixed trash",
        "Trash box is 55mm tall (rather than the 77mm default)",
    ),
    SettingInfo(
        "calibrateToBottom",
        "calibrate-to-bottom",
        "Calibrate to bottom",
        "Calibrate using the bottom-center of well A1 for each labware (rather than "
        "the top-center)",
    ),
    SettingInfo(
        "deckCalibrationDots",
        "dots-deck-type",
        "Deck calibration to dots",
        "Perform deck calibration to dots rather than crosses, for robots that do not "
        "have crosses etched on the deck",
    ),
    SettingInfo(
        "disableHomeOnBoot",
        "disable-home-on-boot",
        "Disable home on boot",
        "Prevent robot from homing motors on boot",
    ),
    SettingInfo(
        "useOldAspirationFunctions",
        None,
        "Use older aspirate behavior",
        "Aspirate with the less accurate volumetric calibrations that were used before "
        "version 3.7.0. Use this if you need consistency with pre-v3.7.0 results. This "
        "only affects GEN1 P10S, P10M, P50S, P50M, and P300S pipettes.",
    ),
    SettingInfo(
        "enableDoorSafetySwitch",
        None,
        "Enable robot door safety switch",
        "Automatically pause protocols when robot door opens. Opening the robot door "
        "during a run will pause your robot only after it has completed its current "
        "motion.",
    ),
    SettingInfo(
        "disableFastProtocolUpload",
        None,
        "Use older protocol analysis method",
        "Use an older, slower method of analyzing uploaded protocols. This changes how "
        "the OT-2 validates your protocol during the upload step, but does not affect "
        "how your protocol actually runs. Opentrons Support might ask you to change "
        "this setting if you encounter problems with the newer, faster protocol "
        "analysis method.",
    ),
    SettingInfo(
        PROTOCOL_SESSIONS,
        None,
        "Enable experimental HTTP protocol sessions",
        "Do not activate this unless you are a developer. Activating this will disable "
        "protocol running from the Opentrons application.",
        restart_required=True,
    ),
    SettingInfo(
        "enableProtocolEngine",
        None,
        "Enable experimental protocol engine",
        "Do not enable. This is an Opentrons-internal setting to test new protocol "
        "execution logic. This feature is not yet complete; your protocols will break "
        "if you enable this setting.",
        restart_required=True,
    ),
)


_BY_ID = {s.id: s for s in SETTINGS}


class AdvancedSettings:
    def __init__(self, *, protocol_sessions: bool) -> None:
        self._values: dict[str, bool | None] = {s.id: None for s in SETTINGS}
        self._values[PROTOCOL_SESSIONS] = True if protocol_sessions else None
        self._restart_pending = False
        self._lock = threading.Lock()

    @property
    def protocol_sessions_enabled(self) -> bool:
        with self._lock:
            return bool(self._values[PROTOCOL_SESSIONS])

    def set(self, setting_id: str, value: bool | None) -> None:
        """Change a setting (``None`` restores its default); 422 for an unknown id."""
        with self._lock:
            if setting_id not in self._values:
                raise InvalidRequest.at(
                    f"There is no setting '{setting_id}'; GET /settings lists them.",
                    pointer="/id",
                )
            self._values[setting_id] = value
            # as on the robot, changing such a setting offers a restart (it is not needed:
            # the simulator applies every change at once)
            self._restart_pending |= _BY_ID[setting_id].restart_required

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            values = dict(self._values)
            restart = self._restart_pending
        return {
            "settings": [
                {
                    "id": s.id,
                    "old_id": s.old_id,
                    "title": s.title,
                    "description": s.description,
                    "restart_required": s.restart_required,
                    "value": values[s.id],
                }
                for s in SETTINGS
            ],
            "links": {"restart": "/server/restart"} if restart else {},
        }
