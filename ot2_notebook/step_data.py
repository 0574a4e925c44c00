"""The structured step data that ``ot2-sim`` adds to protocol step events, for deck playback.

A real robot (software 4.x) describes each protocol step only by a text, ``params.text``
("Aspirating 100.0 uL from A1 of Corning 96 Well Plate 360 µL Flat on 1 at 150.0 uL/sec").
The simulated robot adds what the deck view needs as data, so that nothing has to be read
back out of a sentence (SPEC §6, last row); its worker reads it from opentrons' own command
payloads (``ot2_notebook/simulator/workers/step_details.py``) for every step of a session's
load simulation, ``startSimulate`` and run (an upload's analysis serves no steps). This
module is the one definition of that addition, shared by its producer (the simulator's
worker) and its consumers (:mod:`ot2_notebook.client`'s ``StepEvent.structured``,
:mod:`ot2_notebook.deck`); like :mod:`ot2_notebook.names` it uses the standard library
only, so either side can import it.

Where it goes. A step's *start* event, in ``GET /sessions/{id}`` ``details.events``::

    {"source": "protocol", "event": "command.ASPIRATE.start", "commandId": "7",
     "timestamp": "...",
     "params": {"text": "Aspirating 100.0 uL from A1 of ... on 1 at 92.86 uL/sec",
                "structured": {
                    "command": "ASPIRATE",
                    "pipette": {"mount": "right", "name": "p300_single_gen2", "channels": 1},
                    "volume": 100.0,
                    "flowRate": 92.86,
                    "location": {"slot": 1, "labware": "corning_96_wellplate_360ul_flat",
                                 "well": "A1"},
                    "seconds": 1.9}},
     "result": null}

and the same object under the key ``"structured"`` of the ``ProtocolStep`` frame of the
``session_events`` feed (SPEC §4) for that step's start. End events carry none. Every key
is optional except ``command`` (a step whose payload names no place, such as a touch tip, has
no ``location``); clients must work without any of it (a real robot).

Keys:

``command``
    the opentrons legacy command name, as in the event name without ``command.`` and the
    phase: ``ASPIRATE``, ``DISPENSE``, ``PICK_UP_TIP``, ``DROP_TIP``, ``RETURN_TIP``,
    ``BLOW_OUT``, ``TOUCH_TIP``, ``AIR_GAP``, ``MIX``, ``TRANSFER``, ``DISTRIBUTE``,
    ``CONSOLIDATE``, ``MOVE_TO``, ``DELAY``, ``PAUSE``, ``COMMENT``, module commands ...
``pipette``
    the instrument of a pipetting step: ``mount`` (``"left"``/``"right"``), ``name``
    (``"p300_single_gen2"``), ``channels`` (1 or 8).
``volume``
    µL per channel (aspirate, dispense, air gap, mix).
``flowRate``
    µL/s (aspirate, dispense).
``location``
    where the step happens, when that is a well: ``slot`` (the deck slot, 1-12, of the
    labware, also for labware on a module), ``labware`` (its load name), ``well``
    (``"A1"``: for a multi-channel pipette, the well of its back nozzle). A disposal
    location without wells (API 2.16+ ``TrashBin``) is ``{"slot": 12, "labware": null,
    "well": null}``. ``null`` when the step is not in a well (a point in space).
``seconds``
    the estimated robot time of the step itself, nested steps excluded (opentrons' duration
    estimate; a run's start events carry it too, estimated before the step runs: the same
    figure as the load simulation's).

The nesting of steps (an aspirate inside a transfer, inside a mix, inside an air gap)
follows from the order of start and end events, on real robots as on the simulator, so it
is not repeated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ot2_notebook.json_values import as_int, as_number

__all__ = [
    "STRUCTURED_KEY",
    "LocationData",
    "PipetteData",
    "StepData",
    "StructuredStep",
    "parse_structured",
    "structured_params",
]

#: The key of the structured data in a start event's ``params`` and in a feed frame.
STRUCTURED_KEY = "structured"


class PipetteData(TypedDict, total=False):
    mount: str
    name: str
    channels: int


class LocationData(TypedDict, total=False):
    slot: int | None
    labware: str | None
    well: str | None


class StepData(TypedDict, total=False):
    """The JSON object under ``params.structured`` (see the module doc)."""

    command: str
    pipette: PipetteData
    volume: float
    flowRate: float
    location: LocationData | None
    seconds: float


@dataclass(frozen=True)
class StructuredStep:
    """:class:`StepData` parsed: what the deck timeline reads from a step event."""

    command: str
    mount: str | None = None
    pipette_name: str | None = None
    channels: int | None = None
    volume: float | None = None
    flow_rate: float | None = None
    slot: int | None = None
    labware: str | None = None
    well: str | None = None
    has_location: bool = False
    seconds: float | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_structured(data: Any) -> StructuredStep | None:
    """Parse ``params["structured"]`` (or a frame's ``"structured"``); ``None`` when absent
    or without a ``command``. Unknown keys are ignored and wrong types read as missing, so a
    newer simulator never breaks an older client."""
    if not isinstance(data, Mapping):
        return None
    command = _text(data.get("command"))
    if command is None:
        return None
    if command.startswith("command."):
        command = command[len("command.") :]
    pipette = data.get("pipette")
    pipette = pipette if isinstance(pipette, Mapping) else {}
    location = data.get("location")
    has_location = isinstance(location, Mapping)
    location = location if isinstance(location, Mapping) else {}
    channels = pipette.get("channels")
    return StructuredStep(
        command=command.upper(),
        mount=_text(pipette.get("mount")),
        pipette_name=_text(pipette.get("name")),
        channels=channels if isinstance(channels, int) and not isinstance(channels, bool) else None,
        volume=as_number(data.get("volume")),
        flow_rate=as_number(data.get("flowRate")),
        slot=as_int(location.get("slot")),
        labware=_text(location.get("labware")),
        well=_text(location.get("well")),
        has_location=has_location,
        seconds=as_number(data.get("seconds")),
    )


def structured_params(
    command: str,
    *,
    mount: str | None = None,
    pipette_name: str | None = None,
    channels: int | None = None,
    volume: float | None = None,
    flow_rate: float | None = None,
    slot: int | None = None,
    labware: str | None = None,
    well: str | None = None,
    seconds: float | None = None,
) -> StepData:
    """Build the ``structured`` object for a step (for the simulator's worker): keys whose
    value is ``None`` are left out, and ``location`` is set when a slot is given."""
    data: StepData = {"command": command}
    pipette: PipetteData = {}
    if mount is not None:
        pipette["mount"] = mount
    if pipette_name is not None:
        pipette["name"] = pipette_name
    if channels is not None:
        pipette["channels"] = channels
    if pipette:
        data["pipette"] = pipette
    if volume is not None:
        data["volume"] = float(volume)
    if flow_rate is not None:
        data["flowRate"] = float(flow_rate)
    if slot is not None:
        data["location"] = {"slot": slot, "labware": labware, "well": well}
    if seconds is not None:
        data["seconds"] = float(seconds)
    return data
