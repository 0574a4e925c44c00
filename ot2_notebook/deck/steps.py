"""Protocol steps as data: from a session's step events to :class:`Step` objects.

Two sources, one result. ``ot2-sim`` adds structured data to each step's start event
(:mod:`ot2_notebook.step_data`); a real 4.x robot sends only the step's text, written by
opentrons' legacy command templates, e.g.::

    Picking up tip from A1 of Opentrons 96 Tip Rack 300 µL on 3
    Aspirating 100.0 uL from A1 of Corning 96 Well Plate 360 µL Flat on 1 at 92.86 uL/sec
    Dispensing 100.0 uL into B1 of Corning 96 Well Plate 360 µL Flat on 1 at 92.86 uL/sec
    Mixing 3 times with a volume of 50.0 ul
    Blowing out at A1 of Opentrons Fixed Trash on 12
    Dropping tip into Trash Bin on slot 12
    Delaying for 1 minutes and 30.0 seconds

A labware is named by its display name (which differs between robot software releases:
"Opentrons 96 Tip Rack 300 µL" on 4.7, "Opentrons OT-2 96 Tip Rack 300 µL" on 8.x) and its
slot, which is the part that identifies it. Structured data wins where both exist; the
text fills what it leaves out.

Nesting (an aspirate inside a transfer, inside a mix, inside an air gap) comes from the
order of start and end events: every step that starts before another ends is inside it.
Steps are numbered from 1 in the order they start, at every nesting level, as the run
panel's progress counts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ot2_notebook.step_data import STRUCTURED_KEY, StructuredStep, parse_structured

__all__ = [
    "AGGREGATES",
    "Step",
    "StepBuilder",
    "WellRef",
    "parse_location",
    "parse_text",
    "select_steps",
    "steps_from_events",
]

#: Steps that only group other steps (their nested steps do the pipetting).
AGGREGATES = frozenset({"TRANSFER", "DISTRIBUTE", "CONSOLIDATE", "MIX", "RETURN_TIP", "AIR_GAP"})

# Event names of the disposal-location variants (API 2.16+) map onto the plain commands.
_ALIASES = {
    "DISPENSE_IN_DISPOSAL_LOCATION": "DISPENSE",
    "DROP_TIP_IN_DISPOSAL_LOCATION": "DROP_TIP",
    "BLOW_OUT_IN_DISPOSAL_LOCATION": "BLOW_OUT",
    "MOVE_TO_DISPOSAL_LOCATION": "MOVE_TO",
}

_NUMBER = r"(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_WELL_OF = re.compile(r"^([A-Z]{1,2}\d{1,3}) of (.+) on (?:slot )?(\d{1,2})$")
_DISPOSAL = re.compile(r"^Trash Bin on slot (\d{1,2})$")
_TEMPLATES: dict[str, re.Pattern[str]] = {
    "ASPIRATE": re.compile(
        rf"^Aspirating {_NUMBER} uL from (.+?) at {_NUMBER} uL/sec(?: while moving to .+)?$"
    ),
    "DISPENSE": re.compile(
        rf"^Dispensing {_NUMBER} uL into (.+?) at {_NUMBER} uL/sec(?: while moving to .+)?$"
    ),
    "PICK_UP_TIP": re.compile(r"^Picking up tip from (.+)$"),
    "DROP_TIP": re.compile(r"^Dropping tip into (.+)$"),
    "BLOW_OUT": re.compile(r"^Blowing out(?: (?:at|into) (.+))?$"),
    "MOVE_TO": re.compile(r"^Moving to (.+)$"),
    "MIX": re.compile(rf"^(?:Dynamically m|M)ixing (\d+) times with a volume of {_NUMBER} ul$"),
    "AIR_GAP": re.compile(rf"^Air gap(?: of {_NUMBER} uL)?(?: at height {_NUMBER})?$"),
    "DELAY": re.compile(rf"^Delaying for (\d+) minutes and {_NUMBER} seconds"),
    "TRANSFER": re.compile(r"^Transferring (.+?) from (.+) to (.+)$"),
    "DISTRIBUTE": re.compile(r"^Distributing (.+?) from (.+) to (.+)$"),
    "CONSOLIDATE": re.compile(r"^Consolidating (.+?) from (.+) to (.+)$"),
}
# Texts that name the command when the event name does not (a text without its event).
_TEXT_COMMANDS = (
    ("Aspirating ", "ASPIRATE"),
    ("Dispensing ", "DISPENSE"),
    ("Picking up tip", "PICK_UP_TIP"),
    ("Dropping tip", "DROP_TIP"),
    ("Returning tip", "RETURN_TIP"),
    ("Blowing out", "BLOW_OUT"),
    ("Touching tip", "TOUCH_TIP"),
    ("Air gap", "AIR_GAP"),
    ("Mixing ", "MIX"),
    ("Dynamically mixing ", "MIX"),
    ("Transferring ", "TRANSFER"),
    ("Distributing ", "DISTRIBUTE"),
    ("Consolidating ", "CONSOLIDATE"),
    ("Moving to ", "MOVE_TO"),
    ("Delaying for ", "DELAY"),
    ("Pausing robot operation", "PAUSE"),
)


@dataclass(frozen=True)
class WellRef:
    """A place on the deck named by a step: the labware's ``slot``, the ``well`` (``None``
    for a place without wells, such as an API 2.16 trash bin) and the labware as the step
    names it (a display name from a text, a load name from structured data)."""

    slot: int
    well: str | None
    labware: str | None = None

    def __str__(self) -> str:
        well = f"{self.well} of " if self.well else ""
        return f"{well}{self.labware or 'labware'} on {self.slot}"


def parse_location(text: str | None) -> WellRef | None:
    """``"A1 of Corning 96 Well Plate 360 µL Flat on 1"`` -> ``WellRef(1, "A1", "Corning…")``;
    ``"Trash Bin on slot 12"`` -> ``WellRef(12, None, "Trash Bin")``; else ``None``."""
    if not text:
        return None
    text = text.strip()
    match = _WELL_OF.match(text)
    if match:
        return WellRef(int(match.group(3)), match.group(1), match.group(2))
    match = _DISPOSAL.match(text)
    if match:
        return WellRef(int(match.group(1)), None, "Trash Bin")
    return None


def _first_location(text: str) -> WellRef | None:
    """The first place in a list of places (``"A1 of X on 1, B1 of X on 1"``)."""
    for piece in re.split(r", (?=[A-Z]{1,2}\d{1,3} of )", text):
        ref = parse_location(piece)
        if ref is not None:
            return ref
    return parse_location(text)


@dataclass(frozen=True)
class ParsedText:
    """What a step's text says: volume (µL), flow rate (µL/s), place, and for a delay its
    seconds, for a transfer its first source and destination."""

    understood: bool
    volume: float | None = None
    flow_rate: float | None = None
    location: WellRef | None = None
    targets: tuple[WellRef, ...] = ()
    seconds: float | None = None


def command_of_text(text: str) -> str | None:
    """The command a text was written for (``"Aspirating ..."`` -> ``"ASPIRATE"``)."""
    for prefix, command in _TEXT_COMMANDS:
        if text.startswith(prefix):
            return command
    return None


def parse_text(command: str, text: str | None) -> ParsedText:
    """Read a step text written by opentrons' template for ``command``. ``understood`` is
    ``False`` only for a pipetting step whose text does not read as its template."""
    if not text:
        return ParsedText(False)
    pattern = _TEMPLATES.get(command)
    if pattern is None:  # a step that moves no liquid and no tip by itself (modules, comments)
        return ParsedText(True)
    match = pattern.match(text.strip())
    if match is None:
        return ParsedText(False)
    groups = match.groups()
    if command in ("ASPIRATE", "DISPENSE"):
        location = parse_location(groups[1])
        return ParsedText(location is not None, float(groups[0]), float(groups[2]), location)
    if command in ("PICK_UP_TIP", "DROP_TIP", "MOVE_TO"):
        location = parse_location(groups[0])
        return ParsedText(location is not None, location=location)
    if command == "BLOW_OUT":
        location = parse_location(groups[0]) if groups[0] else None
        return ParsedText(groups[0] is None or location is not None, location=location)
    if command == "MIX":
        return ParsedText(True, volume=float(groups[1]))
    if command == "AIR_GAP":
        return ParsedText(True, volume=float(groups[0]) if groups[0] else None)
    if command == "DELAY":
        return ParsedText(True, seconds=int(groups[0]) * 60 + float(groups[1]))
    source, dest = _first_location(groups[1]), _first_location(groups[2])
    targets = tuple(ref for ref in (source, dest) if ref is not None)
    return ParsedText(True, location=source, targets=targets)


@dataclass(frozen=True)
class Step:
    """One protocol step (see the module doc).

    ``command`` is opentrons' legacy command name (``"ASPIRATE"``); ``depth`` 0 for a step
    the protocol called itself, 1 for a step inside it...; ``parent`` the index of the
    enclosing step. ``volume`` (µL per channel), ``flow_rate`` (µL/s) and ``location``
    come from the structured data or the text; ``targets`` are the places a transfer names
    (its first source and destination, for highlighting). ``mount`` is known from
    structured data only. ``seconds`` is the robot time the simulator estimated for the
    step; ``delay`` the seconds a delay step waits. ``understood`` is ``False`` for a text
    that does not read as its command's template.
    """

    index: int
    command: str
    text: str
    depth: int = 0
    parent: int | None = None
    command_id: str | None = None
    volume: float | None = None
    flow_rate: float | None = None
    location: WellRef | None = None
    targets: tuple[WellRef, ...] = ()
    mount: str | None = None
    pipette_name: str | None = None
    channels: int | None = None
    seconds: float | None = None
    delay: float | None = None
    structured: bool = False
    understood: bool = True

    @property
    def is_aggregate(self) -> bool:
        return self.command in AGGREGATES

    @property
    def places(self) -> tuple[WellRef, ...]:
        """Every place the step names (to highlight)."""
        found = [self.location] if self.location is not None else []
        found += [t for t in self.targets if t != self.location]
        return tuple(found)


def _command_of_event(event: str) -> str:
    """``"command.ASPIRATE.start"`` -> ``"ASPIRATE"``."""
    parts = event.split(".")
    if len(parts) >= 3 and parts[0] == "command":
        name = ".".join(parts[1:-1])
    elif len(parts) == 2 and parts[0] == "command":
        name = parts[1]
    else:
        name = event
    name = name.upper()
    return _ALIASES.get(name, name)


def make_step(
    index: int,
    event: str,
    text: str | None,
    structured: StructuredStep | Mapping[str, Any] | None = None,
    *,
    depth: int = 0,
    parent: int | None = None,
    command_id: str | None = None,
) -> Step:
    """One :class:`Step` from a start event's name, text and structured data."""
    data = structured if isinstance(structured, StructuredStep) else parse_structured(structured)
    command = _command_of_event(event) if event else ""
    if data is not None:
        command = _ALIASES.get(data.command, data.command)
    if not command or command == "COMMAND":
        command = command_of_text(text or "") or command or "UNKNOWN"
    parsed = parse_text(command, text)
    location = parsed.location
    if data is not None and data.has_location:
        if data.slot is not None:
            location = WellRef(data.slot, data.well, data.labware)
        else:
            location = None
    volume = data.volume if data is not None and data.volume is not None else parsed.volume
    flow = data.flow_rate if data is not None and data.flow_rate is not None else parsed.flow_rate
    understood = parsed.understood or (data is not None and data.has_location)
    return Step(
        index=index,
        command=command,
        text=text or "",
        depth=depth,
        parent=parent,
        command_id=command_id,
        volume=volume,
        flow_rate=flow,
        location=location,
        targets=parsed.targets,
        mount=data.mount if data is not None else None,
        pipette_name=data.pipette_name if data is not None else None,
        channels=data.channels if data is not None else None,
        seconds=data.seconds if data is not None else None,
        delay=parsed.seconds,
        structured=data is not None,
        understood=understood,
    )


class StepBuilder:
    """Builds :class:`Step` objects from start and end events as they come (a live run),
    keeping track of nesting. :meth:`start` returns the new step; :meth:`end` closes the
    step with that command id (and any left open inside it)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._open: list[tuple[str | None, int]] = []  # (command id, step index)

    def start(
        self,
        event: str,
        text: str | None,
        structured: Any = None,
        command_id: str | None = None,
        index: int | None = None,
    ) -> Step:
        """A step started; ``index`` is its number (default: one more than the last)."""
        parent = self._open[-1][1] if self._open else None
        step = make_step(
            index if index is not None else len(self.steps) + 1,
            event,
            text,
            structured,
            depth=len(self._open),
            parent=parent,
            command_id=command_id,
        )
        self.steps.append(step)
        self._open.append((command_id, step.index))
        return step

    def end(self, command_id: str | None = None) -> None:
        if not self._open:
            return
        if command_id is not None:
            for position in range(len(self._open) - 1, -1, -1):
                if self._open[position][0] == command_id:
                    del self._open[position:]
                    return
            return  # an end for a step never started here (joined mid-run): ignore
        self._open.pop()


def _phase_of(event: Mapping[str, Any]) -> str:
    return str(event.get("event") or "").rsplit(".", 1)[-1]


def select_steps(
    events: Sequence[Mapping[str, Any]], which: str = "auto"
) -> tuple[str, list[Mapping[str, Any]]]:
    """Pick the protocol events of one pass through the protocol from a session's
    ``details.events`` (raw JSON): ``"load"`` (the simulation the robot runs when the
    session is created: the events before its first session command), ``"run"`` (after the
    last ``protocol.startRun`` or ``protocol.startSimulate``), or ``"auto"``: the run if
    there is one, else the load. Returns the phase found and its protocol events."""
    if which not in ("auto", "load", "run"):
        raise ValueError(f"which must be 'auto', 'load' or 'run', not {which!r}.")
    first_command = None
    last_run = None
    for i, event in enumerate(events):
        if event.get("source") == "sessionCommand":
            if first_command is None:
                first_command = i
            if event.get("event") in ("protocol.startRun", "protocol.startSimulate"):
                last_run = i
    if which == "run" or (which == "auto" and last_run is not None):
        chosen = list(events[last_run + 1 :]) if last_run is not None else []
        phase = "run"
    else:
        chosen = list(events[:first_command] if first_command is not None else events)
        phase = "load"
    return phase, [e for e in chosen if e.get("source") == "protocol"]


def steps_from_events(events: Iterable[Mapping[str, Any]]) -> list[Step]:
    """The steps of a list of protocol step events (raw JSON, in order; see
    :func:`select_steps` to pick one pass from a session's events)."""
    builder = StepBuilder()
    for event in events:
        phase = _phase_of(event)
        command_id = event.get("commandId")
        command_id = str(command_id) if command_id is not None else None
        if phase == "start":
            params = event.get("params")
            params = params if isinstance(params, Mapping) else {}
            text = params.get("text")
            builder.start(
                str(event.get("event") or ""),
                text if isinstance(text, str) else None,
                params.get(STRUCTURED_KEY),
                command_id,
            )
        elif phase == "end":
            builder.end(command_id)
    return builder.steps
