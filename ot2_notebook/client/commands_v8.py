"""Robot software 5+ commands as the step events of a 4.x protocol session.

A 4.x session logs each protocol step as a ``command.ASPIRATE.start`` / ``.end`` event whose
``params.text`` reads "Aspirating 100.0 uL from A1 of ... on 1 at 150.0 uL/sec"; the run
panel counts those events, the deck view reads their text (and ``ot2-sim``'s structured
data, :mod:`ot2_notebook.step_data`). Robot software 5+ logs protocol engine commands
instead (``{"commandType": "aspirate", "params": {"pipetteId", "labwareId", "wellName",
"volume", "flowRate"}, "startedAt", "completedAt", "status"}``), in the analysis and in a
run (``GET /runs/{id}/commands``). :func:`step_events` turns such a list into session events
that say the same thing: the legacy command name, a text in opentrons' own legacy wording,
and the structured data (pipette, volume, flow rate, slot, labware, well), so every consumer
of session events works unchanged on both kinds of robot.

Which commands are steps: everything the protocol does, except loading (labware, pipettes,
modules, liquids, which the equipment panel shows), the engine's own first ``home``, the
move that is part of every engine-core ``drop_tip()`` (its place goes into the drop), and
commands a client added (``intent`` ``setup`` or ``fixit``). Legacy-core protocols (API
level < 2.14) report their compound steps (transfer, mix, delay...) as ``custom`` commands
with the legacy name and text: those keep them, and steps nest as they do on 4.x (a command
that starts while another is still running is inside it).

Plain data in, plain data out: no HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ot2_notebook.client.models import parse_timestamp
from ot2_notebook.json_values import as_int, as_number
from ot2_notebook.step_data import STRUCTURED_KEY, structured_params

__all__ = ["Deck", "Place", "display_names", "legacy_name", "pipette_channels", "step_events"]

_LOADS = frozenset(
    {"loadLabware", "loadPipette", "loadModule", "loadLiquid", "loadLid", "loadLidStack"}
)
_NOT_STEPS = _LOADS | {"moveToAddressableAreaForDropTip", "configureForVolume"}

_LEGACY: dict[str, str] = {
    "aspirate": "ASPIRATE",
    "aspirateInPlace": "ASPIRATE",
    "dispense": "DISPENSE",
    "dispenseInPlace": "DISPENSE",
    "pickUpTip": "PICK_UP_TIP",
    "dropTip": "DROP_TIP",
    "dropTipInPlace": "DROP_TIP",
    "blowout": "BLOW_OUT",
    "blowOutInPlace": "BLOW_OUT",
    "touchTip": "TOUCH_TIP",
    "moveToWell": "MOVE_TO",
    "moveToCoordinates": "MOVE_TO",
    "moveRelative": "MOVE_TO",
    "moveToAddressableArea": "MOVE_TO",
    "airGapInPlace": "AIR_GAP",
    "waitForDuration": "DELAY",
    "waitForResume": "PAUSE",
    "comment": "COMMENT",
    "home": "HOME",
}

#: Names of labware that the analysis does not describe (loaded before the protocol).
_KNOWN_NAMES = {"opentrons_1_trash_1100ml_fixed": "Opentrons Fixed Trash"}

#: OT-2 addressable areas that are places on the deck (the fixed trash in slot 12).
_AREA_SLOTS = {"fixedTrash": 12}


def legacy_name(command: Mapping[str, Any]) -> str:
    """``aspirate`` -> ``ASPIRATE``; a legacy ``custom`` command's own name; a module command
    ``temperatureModule/setTargetTemperature`` -> ``TEMPERATURE_MODULE_SET_TARGET_TEMPERATURE``."""
    kind = str(command.get("commandType") or "")
    if kind == "custom":
        params = command.get("params")
        legacy = params.get("legacyCommandType") if isinstance(params, Mapping) else None
        if isinstance(legacy, str) and legacy:
            return legacy.split(".", 1)[1] if legacy.startswith("command.") else legacy
        return "CUSTOM"
    if kind in _LEGACY:
        return _LEGACY[kind]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", kind.replace("/", "_"))
    return words.upper() or "COMMAND"


def pipette_channels(name: str) -> int:
    """``p300_multi_gen2`` -> 8, ``p1000_96`` -> 96, ``p300_single`` -> 1."""
    if "_96" in name:
        return 96
    return 8 if "multi" in name else 1


@dataclass(frozen=True)
class Place:
    """Where a step happens: the labware's slot, its names, and the well (``None``: a place
    without wells, such as the trash area)."""

    slot: int | None
    load_name: str | None
    display_name: str | None
    well: str | None

    def text(self) -> str:
        name = self.display_name or self.load_name or "labware"
        if self.well is None:
            return f"{name} on slot {self.slot}" if self.slot is not None else name
        on = f" on {self.slot}" if self.slot is not None else ""
        return f"{self.well} of {name}{on}"


@dataclass
class Deck:
    """What a list of commands refers to: labware by id (slot, names), modules by id
    (slot), pipettes by id (mount, name), from a run's or an analysis's lists."""

    labware: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    modules: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    pipettes: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    display_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        data: Mapping[str, Any],
        display_names: Mapping[str, str] | None = None,
    ) -> Deck:
        """From a run or an analysis (``labware``, ``modules``, ``pipettes`` lists);
        ``display_names`` maps definition URIs to labware display names."""

        def by_id(items: Any) -> dict[str, Mapping[str, Any]]:
            return {
                str(item["id"]): item
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, Mapping) and item.get("id") is not None
            }

        return cls(
            by_id(data.get("labware")),
            by_id(data.get("modules")),
            by_id(data.get("pipettes")),
            dict(display_names or {}),
        )

    def slot_of(self, location: Any, depth: int = 0) -> int | None:
        """The deck slot of a labware or module location (on a module, on an adapter)."""
        if not isinstance(location, Mapping) or depth > 5:
            return None
        if "slotName" in location:
            return as_int(location.get("slotName"))
        if "moduleId" in location:
            module = self.modules.get(str(location["moduleId"]))
            return self.slot_of(module.get("location"), depth + 1) if module else None
        if "labwareId" in location:
            below = self.labware.get(str(location["labwareId"]))
            return self.slot_of(below.get("location"), depth + 1) if below else None
        if "addressableAreaName" in location:
            return _AREA_SLOTS.get(str(location["addressableAreaName"]))
        return None

    def place(self, labware_id: Any, well: Any) -> Place | None:
        labware = self.labware.get(str(labware_id)) if labware_id is not None else None
        if labware is None:
            return None
        load_name = str(labware.get("loadName") or "") or None
        uri = str(labware.get("definitionUri") or "")
        display = (
            labware.get("displayName")
            or self.display_names.get(uri)
            or _KNOWN_NAMES.get(load_name or "")
        )
        return Place(
            self.slot_of(labware.get("location")),
            load_name,
            str(display) if display else None,
            str(well) if isinstance(well, str) and well else None,
        )

    def pipette(self, pipette_id: Any) -> tuple[str | None, str | None, int | None]:
        pipette = self.pipettes.get(str(pipette_id)) if pipette_id is not None else None
        if pipette is None:
            return None, None, None
        name = str(pipette.get("pipetteName") or "") or None
        mount = str(pipette.get("mount") or "") or None
        return mount, name, pipette_channels(name) if name else None


def _volume_text(value: float | None) -> str:
    return f"{value}" if value is not None else "?"


def _seconds_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} minutes and {round(seconds - minutes * 60, 3)} seconds"


def _generic_text(kind: str, params: Mapping[str, Any]) -> str:
    """``temperatureModule/setTargetTemperature`` with ``{"celsius": 4}`` ->
    ``Temperature module: set target temperature (celsius 4)``."""
    module, _, action = kind.rpartition("/")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", action).lower()
    head = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", module).capitalize()
    text = f"{head}: {words}" if head else words.capitalize()
    shown = [
        f"{k} {v}"
        for k, v in params.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool) and not k.endswith("Id")
    ]
    return f"{text} ({', '.join(shown)})" if shown else text


class _Describer:
    """Texts and structured data of commands, remembering each pipette's last place (for the
    engine's in-place commands, which name no labware)."""

    def __init__(self, deck: Deck) -> None:
        self.deck = deck
        self.last_place: dict[str, Place] = {}

    def describe(self, command: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kind = str(command.get("commandType") or "")
        raw = command.get("params")
        params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        name = legacy_name(command)
        pipette_id = params.get("pipetteId")
        mount, pipette_name, channels = self.deck.pipette(pipette_id)
        place = self.deck.place(params.get("labwareId"), params.get("wellName"))
        if kind in ("moveToAddressableArea", "moveToAddressableAreaForDropTip"):
            area = str(params.get("addressableAreaName") or "")
            place = Place(
                _AREA_SLOTS.get(area), None, "Trash Bin" if "rash" in area else area, None
            )
        if place is not None and pipette_id is not None:
            self.last_place[str(pipette_id)] = place
        elif kind.endswith("InPlace") and pipette_id is not None:
            place = self.last_place.get(str(pipette_id))
        volume = as_number(params.get("volume"))
        flow_rate = as_number(params.get("flowRate"))
        where = place.text() if place is not None else None
        text = self._text(kind, name, params, where, volume, flow_rate)
        structured = structured_params(
            name,
            mount=mount,
            pipette_name=pipette_name,
            channels=channels,
            volume=volume,
            flow_rate=flow_rate,
            slot=place.slot if place is not None else None,
            labware=place.load_name if place is not None else None,
            well=place.well if place is not None else None,
        )
        return text, dict(structured)

    @staticmethod
    def _text(
        kind: str,
        name: str,
        params: Mapping[str, Any],
        where: str | None,
        volume: float | None,
        flow_rate: float | None,
    ) -> str:
        at = f" at {_volume_text(flow_rate)} uL/sec" if flow_rate is not None else ""
        if kind == "custom":
            text = params.get("legacyCommandText")
            return str(text) if text else name.replace("_", " ").capitalize()
        if name == "ASPIRATE":
            return f"Aspirating {_volume_text(volume)} uL from {where or 'the current place'}{at}"
        if name == "DISPENSE":
            return f"Dispensing {_volume_text(volume)} uL into {where or 'the current place'}{at}"
        if name == "PICK_UP_TIP":
            return f"Picking up tip from {where or 'a tip rack'}"
        if name == "DROP_TIP":
            return f"Dropping tip into {where or 'the trash'}"
        if name == "BLOW_OUT":
            return f"Blowing out at {where}" if where else "Blowing out"
        if name == "TOUCH_TIP":
            return "Touching tip"
        if name == "MOVE_TO":
            return f"Moving to {where}" if where else "Moving"
        if name == "AIR_GAP":
            return f"Air gap of {_volume_text(volume)} uL" if volume is not None else "Air gap"
        if name == "DELAY":
            seconds = as_number(params.get("seconds")) or 0.0
            message = params.get("message")
            text = f"Delaying for {_seconds_text(seconds)}"
            return f"{text}. {message}" if message else text
        if name == "PAUSE":
            message = params.get("message")
            return f"Pausing robot operation: {message}" if message else "Pausing robot operation"
        if name == "COMMENT":
            return str(params.get("message") or "")
        if name == "HOME":
            return "Homing"
        return _generic_text(kind, params)


def _is_step(index: int, command: Mapping[str, Any]) -> bool:
    kind = command.get("commandType")
    if kind in _NOT_STEPS:
        return False
    if command.get("intent") in ("setup", "fixit"):
        return False
    return not (index == 0 and kind == "home")


def _event(
    command_id: str, name: str, phase: str, timestamp: Any, text: str, structured: Any = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"text": text}
    if structured is not None:
        params[STRUCTURED_KEY] = structured
    return {
        "source": "protocol",
        "event": f"command.{name}.{phase}",
        "commandId": command_id,
        "timestamp": timestamp,
        "params": params,
        "result": None,
    }


def _ended_before(open_command: Mapping[str, Any], started: Any) -> bool:
    completed = parse_timestamp(open_command.get("completedAt"))
    if completed is None:
        return False
    start = parse_timestamp(started)
    return start is None or completed <= start


def step_events(commands: Sequence[Mapping[str, Any]], deck: Deck) -> list[dict[str, Any]]:
    """The session events (start and end of each step, in order, nested as on 4.x) of
    ``commands`` (an analysis's or a run's, in their order), described with ``deck``.

    Commands that have not started yet give nothing; a running command gives its start.
    """
    describer = _Describer(deck)
    events: list[dict[str, Any]] = []
    stack: list[tuple[Mapping[str, Any], str, str]] = []

    def close(item: tuple[Mapping[str, Any], str, str]) -> None:
        command, name, text = item
        events.append(_event(str(command.get("id")), name, "end", command.get("completedAt"), text))

    for index, command in enumerate(commands):
        started = command.get("startedAt")
        steps = _is_step(index, command)
        text, structured = describer.describe(command)  # also for the places it moves to
        if not steps or not isinstance(started, str):
            continue
        while stack and _ended_before(stack[-1][0], started):
            close(stack.pop())
        name = legacy_name(command)
        events.append(_event(str(command.get("id")), name, "start", started, text, structured))
        stack.append((command, name, text))
    while stack and isinstance(stack[-1][0].get("completedAt"), str):
        close(stack.pop())
    return events


def display_names(commands: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Labware display names by definition URI, from the ``loadLabware`` results of an
    analysis (run command summaries carry no results)."""
    names: dict[str, str] = {}
    for command in commands:
        if command.get("commandType") != "loadLabware":
            continue
        result = command.get("result")
        definition = result.get("definition") if isinstance(result, Mapping) else None
        if not isinstance(definition, Mapping):
            continue
        meta = definition.get("metadata")
        display = meta.get("displayName") if isinstance(meta, Mapping) else None
        params = definition.get("parameters")
        load_name = params.get("loadName") if isinstance(params, Mapping) else None
        uri = f"{definition.get('namespace')}/{load_name}/{definition.get('version')}"
        if isinstance(display, str) and load_name:
            names[uri] = display
    return names
