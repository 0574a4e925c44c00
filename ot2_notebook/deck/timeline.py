"""The deck's state after every step of a run: tips taken, tips held, liquid moved.

:class:`Timeline` applies a run's (or the load simulation's) :class:`~ot2_notebook.deck.steps.Step`
objects to the deck one by one and answers, for any step N, which tips are gone from which
rack, which tips each pipette holds, and how much liquid went into or out of each well: as
a :class:`DeckState` (for drawing) or as pandas DataFrames (:meth:`Timeline.volumes`,
:meth:`Timeline.tips`, :meth:`Timeline.pipettes`, :meth:`Timeline.summary`).

What it knows and what it guesses:

* Volumes are *changes*: a well starts at 0 and a source well goes negative (the robot does
  not know what was poured in by hand). Liquid drawn up in an air gap is air; a blow-out
  empties the pipette into the place it blows out at; a dropped tip takes its contents to
  the trash.
* A multi-channel pipette works 8 wells at once: the wells under its nozzles (9 mm apart),
  found from the labware definition (a reservoir's well takes all 8).
* Which pipette did a step: structured step data says. A step text does not: with one
  pipette there is nothing to guess; with two, a tip pick-up goes to the pipette whose size
  suits the rack's tips (p20 for 20 µL tips, p300 for 300 µL tips), and the following steps
  to the pipette that picked up a tip last. ``step_mounts`` shows the choice.

Cost: each step is applied once, as it is added (a live run adds steps as they come); a
state is rebuilt from the nearest checkpoint (every :data:`CHECKPOINT_EVERY` steps), so
jumping anywhere in a 3,500-step run replays at most that many steps.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ot2_notebook.deck.layout import DeckLayout, PlacedLabware
from ot2_notebook.deck.steps import Step, StepBuilder, WellRef, select_steps
from ot2_notebook.step_data import STRUCTURED_KEY

if TYPE_CHECKING:
    import pandas

__all__ = [
    "CHECKPOINT_EVERY",
    "DeckState",
    "PipetteState",
    "Timeline",
    "WellKey",
    "estimate_seconds",
]

#: ``(slot, well)``: a well of the labware on top in that slot.
WellKey = tuple[int, str]

CHECKPOINT_EVERY = 64

# Rough robot times (s) of the steps, for the time left when the simulator gives none.
# They are scaled to the protocol's estimated duration where the robot reports one.
_BASE_SECONDS = {
    "PICK_UP_TIP": 5.0,
    "DROP_TIP": 5.0,
    "BLOW_OUT": 1.5,
    "TOUCH_TIP": 2.0,
    "MOVE_TO": 2.0,
    "HOME": 5.0,
    "COMMENT": 0.0,
    "PAUSE": 0.0,
    "RESUME": 0.0,
}
_MOVE_SECONDS = 1.5  # travel before an aspirate or dispense


def estimate_seconds(step: Step) -> float:
    """A rough robot time for ``step``: the simulator's estimate if it gave one; else the
    delay of a delay, travel plus volume / flow rate for an aspirate or dispense, nothing
    for a step that only groups nested steps, and a few seconds for the rest."""
    if step.seconds is not None:
        return max(0.0, step.seconds)
    if step.delay is not None:
        return step.delay
    if step.is_aggregate:
        return 0.0
    if step.command in ("ASPIRATE", "DISPENSE"):
        flow = step.flow_rate or 0.0
        volume = step.volume or 0.0
        return _MOVE_SECONDS + (volume / flow if flow > 0 else 0.0)
    return _BASE_SECONDS.get(step.command, 3.0)


@dataclass(frozen=True)
class PipetteState:
    """A pipette after some step: the tips it holds (one per nozzle) and what is in them
    (µL per channel, liquid and air), and where it last was."""

    mount: str
    tips: tuple[WellKey, ...] = ()
    liquid: float = 0.0
    air: float = 0.0
    last: WellRef | None = None

    @property
    def has_tip(self) -> bool:
        return bool(self.tips)


@dataclass(frozen=True)
class DeckState:
    """The deck after step ``step`` (0: before the first), for drawing and reading.

    ``volumes``: net µL per well (``added`` minus ``removed``); ``tips``: the tip-rack wells
    whose tip is not new (``"in use"``, ``"used"`` or ``"returned"``); ``pipettes`` by mount.
    ``current`` is step ``step``; ``sources``, ``destinations`` and ``places`` are the wells
    it draws from, puts into, or names otherwise (tips, touch tip, a transfer's wells).
    """

    step: int
    volumes: Mapping[WellKey, float]
    added: Mapping[WellKey, float]
    removed: Mapping[WellKey, float]
    tips: Mapping[WellKey, str]
    pipettes: Mapping[str, PipetteState]
    current: Step | None = None
    mount: str | None = None
    sources: frozenset[WellKey] = frozenset()
    destinations: frozenset[WellKey] = frozenset()
    places: frozenset[WellKey] = frozenset()

    def tip_state(self, slot: int, well: str) -> str:
        return self.tips.get((slot, well), "new")

    def volume(self, slot: int, well: str) -> float:
        return self.volumes.get((slot, well), 0.0)


@dataclass
class _Record:
    step: Step
    mount: str | None
    changes: list[tuple[str, Any, Any]]
    sources: frozenset[WellKey]
    destinations: frozenset[WellKey]
    places: frozenset[WellKey]
    seconds: float


@dataclass
class _Working:
    volumes: dict[WellKey, float] = field(default_factory=dict)
    added: dict[WellKey, float] = field(default_factory=dict)
    removed: dict[WellKey, float] = field(default_factory=dict)
    tips: dict[WellKey, str] = field(default_factory=dict)
    pipettes: dict[str, PipetteState] = field(default_factory=dict)

    def copy(self) -> _Working:
        return _Working(
            dict(self.volumes),
            dict(self.added),
            dict(self.removed),
            dict(self.tips),
            dict(self.pipettes),
        )

    def table(self, name: str) -> dict[Any, Any]:
        table: dict[Any, Any] = getattr(self, name)
        return table

    def apply(self, changes: Iterable[tuple[str, Any, Any]]) -> None:
        for table, key, value in changes:
            target = self.table(table)
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value


def _round(value: float) -> float:
    return round(value, 6)


class Timeline:
    """The deck state after each step (see the module doc).

    Build it from a layout and steps (``Timeline(layout, steps)``), from a session's events
    (:meth:`from_events`, :meth:`from_session`), or step by step as a run goes
    (:meth:`add_event`). ``estimated_duration`` (s, the protocol's ``estimatedDuration``)
    scales the per-step time estimates so that they add up to it.
    """

    def __init__(
        self,
        layout: DeckLayout,
        steps: Iterable[Step] = (),
        *,
        estimated_duration: float | None = None,
        phase: str = "run",
    ) -> None:
        self.layout = layout
        self.phase = phase
        self.estimated_duration = estimated_duration
        self._records: list[_Record] = []
        self._head = _Working(
            pipettes={m: PipetteState(m) for m in layout.pipettes} or {"": PipetteState("")}
        )
        self._checkpoints: list[_Working] = [self._head.copy()]
        self._active: str | None = None
        self._builder = StepBuilder()
        self._cum: list[float] = [0.0]
        self._cursor: tuple[int, _Working] | None = None
        #: Steps whose text could not be read (number, text).
        self.unread: list[tuple[int, str]] = []
        for step in steps:
            self.append(step)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_events(
        cls,
        layout: DeckLayout,
        events: Sequence[Mapping[str, Any]],
        *,
        which: str = "auto",
        estimated_duration: float | None = None,
    ) -> Timeline:
        """From a session's ``details.events`` (raw JSON): one pass through the protocol,
        chosen by ``which`` (see :func:`~ot2_notebook.deck.steps.select_steps`)."""
        phase, chosen = select_steps(events, which)
        timeline = cls(layout, estimated_duration=estimated_duration, phase=phase)
        for event in chosen:  # as a live run feeds them: a run in progress can go on
            params = event.get("params")
            params = params if isinstance(params, Mapping) else {}
            text = params.get("text")
            command_id = event.get("commandId")
            timeline.add_event(
                str(event.get("event") or ""),
                text if isinstance(text, str) else None,
                params.get(STRUCTURED_KEY),
                str(command_id) if command_id is not None else None,
            )
        return timeline

    @classmethod
    def from_session(
        cls,
        session: Any,
        layout: DeckLayout | None = None,
        *,
        which: str = "auto",
        protocol: Any = None,
        definitions: Iterable[Any] = (),
        refresh: bool = True,
    ) -> Timeline:
        """From a :class:`~ot2_notebook.client.Session` (read again from the robot unless
        ``refresh=False``) or its ``SessionData``. The layout is built from ``protocol``
        (fetched with ``session.protocol()`` when not given) unless ``layout`` is given."""
        data = session
        if hasattr(session, "refresh") and hasattr(session, "data"):
            data = session.refresh().data if refresh else session.data
        raw = getattr(data, "raw", None)
        if not isinstance(raw, Mapping):
            raise TypeError(
                "Timeline.from_session needs a Session or SessionData, not "
                f"{type(session).__name__}."
            )
        if protocol is None and layout is None:
            if not hasattr(session, "protocol"):
                raise TypeError("Pass protocol= or layout= with a SessionData.")
            protocol = session.protocol()
        protocol_data = getattr(protocol, "data", protocol)
        if layout is None:
            layout = DeckLayout.from_protocol(protocol_data, definitions=definitions)
        details = raw.get("details") if isinstance(raw.get("details"), Mapping) else {}
        events = details.get("events") if isinstance(details, Mapping) else None
        return cls.from_events(
            layout,
            events if isinstance(events, list) else [],
            which=which,
            estimated_duration=getattr(protocol_data, "estimated_duration", None),
        )

    def add_event(
        self,
        event: str,
        text: str | None = None,
        structured: Any = None,
        command_id: str | None = None,
    ) -> Step | None:
        """Feed one step event as it happens (``"command.ASPIRATE.start"`` / ``...end"``);
        returns the new step for a start, ``None`` for an end."""
        phase = event.rsplit(".", 1)[-1]
        if phase == "end":
            self._builder.end(command_id)
            return None
        step = self._builder.start(
            event, text, structured, command_id, index=len(self._records) + 1
        )
        self.append(step)
        return step

    def append(self, step: Step) -> None:
        """Apply one more step (its index is set to the next number)."""
        index = len(self._records) + 1
        if step.index != index:
            step = replace(step, index=index)
        record = self._apply(step)
        self._records.append(record)
        self._cum.append(self._cum[-1] + record.seconds)
        if index % CHECKPOINT_EVERY == 0:
            self._checkpoints.append(self._head.copy())
        if not step.understood and step.text:
            self.unread.append((index, step.text))

    # -- applying one step ---------------------------------------------------------------------

    def _ancestors(self, step: Step) -> Iterator[Step]:
        parent = step.parent
        while parent is not None and 0 < parent <= len(self._records):
            ancestor = self._records[parent - 1].step
            yield ancestor
            parent = ancestor.parent

    def _choose_mount(self, step: Step, labware: PlacedLabware | None) -> str | None:
        pipettes = self._head.pipettes
        if step.mount is not None:
            if step.mount not in pipettes:
                pipettes[step.mount] = PipetteState(step.mount)
            return step.mount
        mounts = [m for m in pipettes if m]
        if len(mounts) <= 1:
            return mounts[0] if mounts else next(iter(pipettes))
        if step.command == "PICK_UP_TIP":
            tip_volume = labware.definition.tip_volume if labware and labware.definition else None

            def fit(mount: str) -> tuple[int, float]:
                info = self.layout.pipettes.get(mount)
                busy = 1 if pipettes[mount].has_tip else 0
                if tip_volume is None or info is None or info.max_volume is None:
                    return busy, 0.0
                return busy, abs(math.log(tip_volume / info.max_volume))

            return min(mounts, key=fit)
        active = self._active
        if active in pipettes and pipettes[active].has_tip:
            return active
        holding = [m for m in mounts if pipettes[m].has_tip]
        if len(holding) == 1:
            return holding[0]
        return active if active is not None else mounts[0]

    def _channels(self, mount: str | None, step: Step) -> int:
        if step.channels:
            return step.channels
        info = self.layout.pipettes.get(mount or "")
        return info.channels if info is not None else 1

    def _wells(
        self, ref: WellRef | None, channels: int
    ) -> tuple[PlacedLabware | None, list[WellKey]]:
        if ref is None:
            return None, []
        labware = self.layout.find(ref.slot, ref.labware)
        well = ref.well
        if well is None:  # a disposal location: count it in the labware's first well
            names = labware.well_names if labware is not None else ()
            well = names[0] if names else "A1"
        if labware is None:
            return None, [(ref.slot, well)]
        return labware, [(ref.slot, name) for name in labware.wells_under(well, channels)]

    def _apply(self, step: Step) -> _Record:
        head = self._head
        changes: list[tuple[str, Any, Any]] = []

        def put(table: str, key: Any, value: Any) -> None:
            head.table(table)[key] = value
            changes.append((table, key, value))

        def bump(table: str, key: WellKey, amount: float) -> None:
            put(table, key, _round(head.table(table).get(key, 0.0) + amount))

        location = step.location
        labware_ref = location.labware if location is not None else None
        labware = self.layout.find(location.slot, labware_ref) if location is not None else None
        mount: str | None = None
        sources: list[WellKey] = []
        destinations: list[WellKey] = []
        places: list[WellKey] = []
        pipetting = step.command in (
            "ASPIRATE",
            "DISPENSE",
            "PICK_UP_TIP",
            "DROP_TIP",
            "BLOW_OUT",
            "TOUCH_TIP",
            "MOVE_TO",
            "AIR_GAP",
            "MIX",
            "RETURN_TIP",
        )
        if pipetting:
            mount = self._choose_mount(step, labware)
        if mount is not None and mount in head.pipettes:
            pipette = head.pipettes[mount]
            channels = self._channels(mount, step)
            if location is None and step.command in ("BLOW_OUT", "TOUCH_TIP"):
                location = pipette.last
            _, wells = self._wells(location, channels)
            command = step.command
            if command == "PICK_UP_TIP":
                for key in pipette.tips:  # a tip still on: it is gone
                    put("tips", key, "used")
                unique = list(dict.fromkeys(wells))
                for key in unique:
                    put("tips", key, "in use")
                pipette = replace(pipette, tips=tuple(unique), liquid=0.0, air=0.0)
                places = unique
                self._active = mount
            elif command == "DROP_TIP":
                into_rack = labware is not None and labware.is_tiprack
                back = list(dict.fromkeys(wells)) if into_rack else []
                for key in pipette.tips:
                    if key not in back:
                        put("tips", key, "used")
                for key in back:
                    put("tips", key, "returned")
                pipette = replace(pipette, tips=(), liquid=0.0, air=0.0)
                places = back or wells
            elif command == "ASPIRATE":
                volume = step.volume or 0.0
                if any(a.command == "AIR_GAP" for a in self._ancestors(step)):
                    pipette = replace(pipette, air=_round(pipette.air + volume))
                    places = wells
                else:
                    for key in wells:
                        bump("removed", key, volume)
                        bump("volumes", key, -volume)
                    pipette = replace(pipette, liquid=_round(pipette.liquid + volume))
                    sources = wells
            elif command in ("DISPENSE", "BLOW_OUT"):
                if command == "DISPENSE":
                    volume = step.volume or 0.0
                    air_out = min(pipette.air, volume)
                    liquid_out = volume - air_out
                    pipette = replace(
                        pipette,
                        air=_round(pipette.air - air_out),
                        liquid=_round(max(0.0, pipette.liquid - liquid_out)),
                    )
                else:
                    liquid_out = pipette.liquid
                    pipette = replace(pipette, liquid=0.0, air=0.0)
                if liquid_out > 0:
                    for key in wells:
                        bump("added", key, liquid_out)
                        bump("volumes", key, liquid_out)
                destinations = wells
            else:
                places = wells
            if location is not None:
                pipette = replace(pipette, last=location)
            if pipette != head.pipettes[mount]:
                put("pipettes", mount, pipette)
        elif step.places:
            for ref in step.places:
                places += self._wells(ref, 1)[1]
        if step.is_aggregate and step.targets:
            for ref in step.targets:
                places += self._wells(ref, 1)[1]
        return _Record(
            step=step,
            mount=mount,
            changes=changes,
            sources=frozenset(sources),
            destinations=frozenset(destinations),
            places=frozenset(places),
            seconds=estimate_seconds(step),
        )

    # -- reading the state ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    @property
    def steps(self) -> list[Step]:
        return [r.step for r in self._records]

    def step(self, n: int) -> Step:
        """Step ``n`` (1-based)."""
        self._check(n, allow_zero=False)
        return self._records[n - 1].step

    @property
    def step_mounts(self) -> list[str | None]:
        """The mount that did each step (``None`` for steps without a pipette)."""
        return [r.mount for r in self._records]

    def _check(self, n: int, *, allow_zero: bool = True) -> None:
        low = 0 if allow_zero else 1
        if not isinstance(n, int) or isinstance(n, bool) or not low <= n <= len(self):
            raise IndexError(
                f"step {n!r} is out of range: this timeline has steps 1 to {len(self)}"
                + (" (0 is the deck before the first)" if allow_zero else "")
                + "."
            )

    def _working(self, n: int) -> _Working:
        if n == len(self._records):
            return self._head
        cursor = self._cursor
        if cursor is not None and cursor[0] <= n and n - cursor[0] < CHECKPOINT_EVERY:
            start, work = cursor
        else:
            start = (n // CHECKPOINT_EVERY) * CHECKPOINT_EVERY
            work = self._checkpoints[n // CHECKPOINT_EVERY].copy()
        for record in self._records[start:n]:
            work.apply(record.changes)
        self._cursor = (n, work)
        return work

    def state(self, n: int | None = None) -> DeckState:
        """The deck after step ``n`` (default: the last; 0: before the first step)."""
        n = len(self) if n is None else n
        self._check(n)
        work = self._working(n)
        record = self._records[n - 1] if n > 0 else None
        return DeckState(
            step=n,
            volumes=dict(work.volumes),
            added=dict(work.added),
            removed=dict(work.removed),
            tips=dict(work.tips),
            pipettes=dict(work.pipettes),
            current=record.step if record else None,
            mount=record.mount if record else None,
            sources=record.sources if record else frozenset(),
            destinations=record.destinations if record else frozenset(),
            places=record.places if record else frozenset(),
        )

    # -- time ----------------------------------------------------------------------------------

    @property
    def total_seconds(self) -> float:
        """The estimated robot time of all steps (scaled to ``estimated_duration``)."""
        if self.estimated_duration is not None and self._cum[-1] > 0:
            return float(self.estimated_duration)
        return self._cum[-1]

    def _scale(self) -> float:
        raw = self._cum[-1]
        if self.estimated_duration is None or raw <= 0:
            return 1.0
        return float(self.estimated_duration) / raw

    def step_seconds(self, n: int) -> float:
        """The estimated robot time of step ``n``."""
        self._check(n, allow_zero=False)
        return self._records[n - 1].seconds * self._scale()

    def seconds_before(self, n: int) -> float:
        """Estimated robot time from the start of the run to the start of step ``n``."""
        self._check(n, allow_zero=False)
        return self._cum[n - 1] * self._scale()

    def remaining_seconds(self, n: int) -> float:
        """Estimated robot time from the start of step ``n`` to the end (0 for n = 0: the
        whole run)."""
        self._check(n)
        done = self._cum[n - 1] if n > 0 else 0.0
        return (self._cum[-1] - done) * self._scale()

    def step_at_time(self, seconds: float) -> int:
        """The step under way ``seconds`` (estimated robot time) into the run."""
        if not self._records:
            return 0
        raw = seconds / self._scale()
        return max(1, min(len(self), bisect.bisect_right(self._cum, raw)))

    # -- tables --------------------------------------------------------------------------------

    def _labware_name(self, slot: int) -> tuple[str, str]:
        labware = self.layout.labware_in(slot)
        if labware is None:
            return f"slot {slot}", ""
        return labware.name, labware.load_name

    def volumes(self, n: int | None = None, *, all_wells: bool = False) -> pandas.DataFrame:
        """Liquid moved into or out of each well by step ``n`` (default: the last): one row
        per well touched (``all_wells=True``: every well of every labware except tip racks
        and the trash), ordered by slot and well order. Columns ``slot``, ``labware``,
        ``load_name``, ``well``, ``volume`` (net µL), ``added``, ``removed``, ``capacity``."""
        import pandas as pd

        state = self.state(n)
        keys = set(state.added) | set(state.removed)
        if all_wells:
            for slot, labware in self.layout.labware.items():
                if not labware.is_tiprack and not labware.is_trash:
                    keys |= {(slot, w) for w in labware.well_names}
        rows = []
        for slot, well in sorted(keys, key=self._well_order):
            name, load_name = self._labware_name(slot)
            placed = self.layout.labware_in(slot)
            rows.append(
                {
                    "slot": slot,
                    "labware": name,
                    "load_name": load_name,
                    "well": well,
                    "volume": state.volumes.get((slot, well), 0.0),
                    "added": state.added.get((slot, well), 0.0),
                    "removed": state.removed.get((slot, well), 0.0),
                    "capacity": placed.capacity(well) if placed is not None else None,
                }
            )
        columns = ["slot", "labware", "load_name", "well", "volume", "added", "removed", "capacity"]
        return pd.DataFrame(rows, columns=columns)

    def _well_order(self, key: WellKey) -> tuple[int, int, str]:
        slot, well = key
        labware = self.layout.labware_in(slot)
        names = labware.well_names if labware is not None else ()
        try:
            position = names.index(well)
        except ValueError:
            position = len(names)
        return slot, position, well

    def tips(self, n: int | None = None, *, used_only: bool = False) -> pandas.DataFrame:
        """Every tip of every tip rack after step ``n``: ``slot``, ``labware``, ``well``,
        ``state`` (``"new"``, ``"in use"``, ``"used"``, ``"returned"``) and ``pipette``
        (the mount holding it). ``used_only=True``: the tips that are not new."""
        import pandas as pd

        state = self.state(n)
        holders = {key: p.mount for p in state.pipettes.values() for key in p.tips}
        keys: set[WellKey] = set(state.tips)
        if not used_only:
            for slot, labware in self.layout.labware.items():
                if labware.is_tiprack:
                    keys |= {(slot, w) for w in labware.well_names}
        rows = []
        for slot, well in sorted(keys, key=self._well_order):
            name, load_name = self._labware_name(slot)
            rows.append(
                {
                    "slot": slot,
                    "labware": name,
                    "load_name": load_name,
                    "well": well,
                    "state": state.tips.get((slot, well), "new"),
                    "pipette": holders.get((slot, well)),
                }
            )
        columns = ["slot", "labware", "load_name", "well", "state", "pipette"]
        return pd.DataFrame(rows, columns=columns)

    def used_tips(self, n: int | None = None) -> list[WellKey]:
        """The tips taken by step ``n`` (in use or used; returned ones excluded), in order."""
        state = self.state(n)
        keys = [k for k, v in state.tips.items() if v in ("in use", "used")]
        return sorted(keys, key=self._well_order)

    def pipettes(self, n: int | None = None) -> pandas.DataFrame:
        """Each pipette after step ``n``: ``mount``, ``name``, ``channels``, ``tips`` (held,
        as ``"A1 @ 3"``), ``liquid`` and ``air`` (µL per channel)."""
        import pandas as pd

        state = self.state(n)
        rows = []
        for mount, pipette in state.pipettes.items():
            info = self.layout.pipettes.get(mount)
            rows.append(
                {
                    "mount": mount,
                    "name": info.name if info else "",
                    "channels": info.channels if info else 1,
                    "tips": ", ".join(f"{w} @ {s}" for s, w in pipette.tips),
                    "liquid": pipette.liquid,
                    "air": pipette.air,
                }
            )
        return pd.DataFrame(rows, columns=["mount", "name", "channels", "tips", "liquid", "air"])

    def summary(self, n: int | None = None) -> pandas.DataFrame:
        """One row per labware after step ``n``: ``slot``, ``labware``, ``kind``, ``wells``,
        ``wells_touched``, ``added``, ``removed``, ``net`` (µL), ``tips_used``, ``tips_left``."""
        import pandas as pd

        state = self.state(n)
        rows = []
        for slot in sorted(self.layout.labware):
            labware = self.layout.labware[slot]
            touched = {k for k in (*state.added, *state.removed) if k[0] == slot}
            added = sum(v for k, v in state.added.items() if k[0] == slot)
            removed = sum(v for k, v in state.removed.items() if k[0] == slot)
            kind = "tip rack" if labware.is_tiprack else "trash" if labware.is_trash else "labware"
            tips_used = sum(1 for k, v in state.tips.items() if k[0] == slot and v != "returned")
            count = len(labware.well_names)
            rows.append(
                {
                    "slot": slot,
                    "labware": labware.name,
                    "kind": kind,
                    "wells": count,
                    "wells_touched": len(touched),
                    "added": _round(added),
                    "removed": _round(removed),
                    "net": _round(added - removed),
                    "tips_used": tips_used if labware.is_tiprack else 0,
                    "tips_left": count - tips_used if labware.is_tiprack else 0,
                }
            )
        columns = [
            "slot",
            "labware",
            "kind",
            "wells",
            "wells_touched",
            "added",
            "removed",
            "net",
            "tips_used",
            "tips_left",
        ]
        return pd.DataFrame(rows, columns=columns)

    def steps_dataframe(self) -> pandas.DataFrame:
        """The steps: ``step``, ``depth``, ``command``, ``text``, ``pipette`` (mount),
        ``volume``, ``slot``, ``well``, ``seconds`` (estimated)."""
        import pandas as pd

        scale = self._scale()
        rows = [
            {
                "step": r.step.index,
                "depth": r.step.depth,
                "command": r.step.command,
                "text": r.step.text,
                "pipette": r.mount,
                "volume": r.step.volume,
                "slot": r.step.location.slot if r.step.location else None,
                "well": r.step.location.well if r.step.location else None,
                "seconds": r.seconds * scale,
            }
            for r in self._records
        ]
        columns = [
            "step",
            "depth",
            "command",
            "text",
            "pipette",
            "volume",
            "slot",
            "well",
            "seconds",
        ]
        return pd.DataFrame(rows, columns=columns)
