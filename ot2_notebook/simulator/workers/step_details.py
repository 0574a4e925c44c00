"""The structured data of one protocol step, read from opentrons' legacy command payload.

Every step the protocol takes is published on the protocol context's legacy broker as a
``before`` message whose ``payload`` carries the objects the step was called with: the
``instrument`` (an ``InstrumentContext``), the ``location`` (a ``Well``, a ``Location``, a
``TrashBin``), the ``volume`` and the flow ``rate`` multiplier. :class:`StepDetails` turns
them into the ``structured`` object of the step's start event
(:mod:`ot2_notebook.step_data`), so that a client's deck view need not read the step's
text back (a real 4.x robot sends only the text). Nothing here parses a text.

Reading a payload never fails a protocol: anything unexpected leaves the key out (at worst
the step carries only its ``command``), and ``internals.check()`` verifies at start-up
that the payloads of a tip pick-up and drop still read as they should.

Only ever imported in a worker process (it imports opentrons).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ot2_notebook.step_data import StepData, structured_params

__all__ = ["StepDetails"]

log = logging.getLogger(__name__)

#: Commands whose payload ``volume`` is µL per channel moved by that step itself.
_VOLUME_COMMANDS = frozenset(
    {"ASPIRATE", "DISPENSE", "DISPENSE_IN_DISPOSAL_LOCATION", "AIR_GAP", "MIX"}
)
#: Commands whose flow rate is the pipette's aspirate (or dispense) rate times ``rate``.
_FLOW = {
    "ASPIRATE": "aspirate",
    "DISPENSE": "dispense",
    "DISPENSE_IN_DISPOSAL_LOCATION": "dispense",
}
#: Commands naming their places as ``source`` (and ``dest``): the first source is the place.
_AGGREGATES = frozenset({"TRANSFER", "DISTRIBUTE", "CONSOLIDATE"})

_Place = tuple[int, str | None, str | None]  # (slot, labware load name, well)


def _slot_number(value: Any) -> int | None:
    """``"3"`` / ``3`` / ``DeckSlotName.SLOT_3`` -> 3; anything else (a Flex slot) -> None."""
    value = getattr(value, "id", value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1 <= value <= 12 else None
    if isinstance(value, str) and value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return None


class StepDetails:
    """Builds the ``structured`` object of each step of one protocol run (see the module
    doc). Pipettes and labware are looked up once and remembered by identity; a labware
    move forgets the labware's places."""

    def __init__(self) -> None:
        from opentrons.protocol_api.disposal_locations import TrashBin
        from opentrons.protocol_api.labware import Well
        from opentrons.protocols.api_support.labware_like import LabwareLike
        from opentrons.types import Location

        self._well_type = Well
        self._location_type = Location
        self._trash_type = TrashBin
        self._labware_like = LabwareLike
        self._pipettes: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._labware: dict[int, tuple[Any, int | None, str | None]] = {}

    def build(self, name: str, payload: Mapping[str, Any]) -> StepData:
        """The structured data of the step ``name`` (``"command.ASPIRATE"``) with ``payload``
        (the ``before`` message's). Always returns at least ``{"command": ...}``."""
        command = name[len("command.") :] if name.startswith("command.") else name
        if command == "MOVE_LABWARE":
            self._labware.clear()
        try:
            return self._build(command, payload)
        except Exception:  # a payload opentrons changed: the step goes on without the data
            log.debug("no structured data for %s", name, exc_info=True)
            return {"command": command}

    def _build(self, command: str, payload: Mapping[str, Any]) -> StepData:
        pipette: dict[str, Any] = {}
        instrument = payload.get("instrument")
        if instrument is not None:
            pipette = self._pipette(instrument)
        volume = payload.get("volume") if command in _VOLUME_COMMANDS else None
        if isinstance(volume, bool) or not isinstance(volume, (int, float)):
            volume = None
        flow_rate = None
        if command in _FLOW and instrument is not None:
            rate = payload.get("rate")
            if isinstance(rate, (int, float)) and not isinstance(rate, bool):
                flow_rate = float(rate) * float(getattr(instrument.flow_rate, _FLOW[command]))
        seconds = None
        if command == "DELAY":
            seconds = 60.0 * float(payload.get("minutes") or 0) + float(payload.get("seconds") or 0)
        if command in _AGGREGATES:
            source = payload.get("source")
            location = source[0] if isinstance(source, list) and source else source
        else:
            location = payload.get("location")
        data = structured_params(
            command,
            mount=pipette.get("mount"),
            pipette_name=pipette.get("name"),
            channels=pipette.get("channels"),
            volume=volume,
            flow_rate=flow_rate,
            seconds=seconds,
        )
        if "location" in payload or command in _AGGREGATES:
            place = self._place(location)
            data["location"] = (
                {"slot": place[0], "labware": place[1], "well": place[2]}
                if place is not None
                else None
            )
        return data

    # -- pipettes -----------------------------------------------------------------------------

    def _pipette(self, instrument: Any) -> dict[str, Any]:
        known = self._pipettes.get(id(instrument))
        if known is not None and known[0] is instrument:
            return known[1]
        found: dict[str, Any] = {}
        mount = getattr(instrument, "mount", None)
        if isinstance(mount, str):
            found["mount"] = mount.lower()
        name = getattr(instrument, "name", None)
        if isinstance(name, str):
            found["name"] = name
        channels = getattr(instrument, "channels", None)
        if channels is not None:
            found["channels"] = int(channels)
        self._pipettes[id(instrument)] = (instrument, found)  # holds it: the id stays its own
        return found

    # -- places ------------------------------------------------------------------------------

    def _place(self, location: Any) -> _Place | None:
        """``(slot, load name, well)`` of a step's location (a well, or a trash bin: no
        load name, no well); ``None`` for a point in space (above a labware, a slot or a
        module, not in a well) or a place off the OT-2 deck."""
        if location is None:
            return None
        if isinstance(location, self._trash_type):  # API 2.16+: a trash bin, no wells
            slot = _slot_number(location.location)
            return (slot, None, None) if slot is not None else None
        if isinstance(location, self._well_type):
            return self._in_labware(location.parent, location.well_name)
        if isinstance(location, self._location_type):
            target = location.labware
            if target.is_well:
                well = target.as_well()
                return self._in_labware(well.parent, well.well_name)
            return None  # a point above a labware, a slot or a module: not in a well
        return None

    def _in_labware(self, labware: Any, well: str | None) -> _Place | None:
        known = self._labware.get(id(labware))
        if known is None or known[0] is not labware:
            # the deck slot under it, through a module or an adapter (a module's slot)
            slot = _slot_number(self._labware_like(labware).first_parent())
            load_name = getattr(labware, "load_name", None)
            known = (labware, slot, load_name if isinstance(load_name, str) else None)
            self._labware[id(labware)] = known
        _, slot, load_name = known
        if slot is None:
            return None
        return (slot, load_name, well)
