"""Where everything a protocol loads sits on the OT-2 deck, in deck coordinates.

:class:`DeckLayout` places the protocol's labware and modules (as the robot's analysis lists
them, :class:`~ot2_notebook.client.models.Equipment`) with their definitions
(:mod:`ot2_notebook.deck.definitions`): each labware's front left corner, each module's
body, the slots a thermocycler covers (7, 8, 10 and 11), and which wells the nozzles of a
multi-channel pipette reach. Labware without a definition is kept (with its name and slot)
and drawn as a labelled box; its wells are still tracked by name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ot2_notebook.client.models import Equipment, Labware, ProtocolData
from ot2_notebook.deck.definitions import (
    DefinitionLibrary,
    LabwareDefinition,
    ModuleDefinition,
    SlotGeometry,
)

__all__ = [
    "FIXED_TRASH_SLOT",
    "NOZZLE_SPACING",
    "THERMOCYCLER_SLOTS",
    "DeckLayout",
    "PipetteInfo",
    "PlacedLabware",
    "PlacedModule",
]

FIXED_TRASH_SLOT = 12
#: A thermocycler is listed at slot 7 and takes 7, 8, 10 and 11.
THERMOCYCLER_SLOTS = (7, 8, 10, 11)
#: Distance between the nozzles of an OT-2 multi-channel pipette (mm, front to back).
NOZZLE_SPACING = 9.0

_MAX_VOLUME = re.compile(r"^p(\d+)_")
_WELL_NAME = re.compile(r"^([A-Z]+)(\d+)$")


@dataclass(frozen=True)
class PipetteInfo:
    """A pipette the protocol loads: mount, name, channels and its largest volume (µL)."""

    mount: str
    name: str
    channels: int
    max_volume: float | None

    @classmethod
    def of(cls, mount: str, name: str, channels: int | None) -> PipetteInfo:
        match = _MAX_VOLUME.match(name or "")
        guessed = 8 if "multi" in (name or "") else 1
        return cls(
            mount=mount,
            name=name,
            channels=channels or guessed,
            max_volume=float(match.group(1)) if match else None,
        )


@dataclass(frozen=True)
class PlacedModule:
    """A module on the deck: its definition (when known) and body rectangle."""

    slot: int
    slots: tuple[int, ...]
    model: str
    module_type: str
    display_name: str
    definition: ModuleDefinition | None
    body: tuple[float, float, float, float]  # x, y, width, depth (deck coordinates)

    @property
    def is_thermocycler(self) -> bool:
        return self.module_type == "thermocyclerModuleType"


@dataclass(frozen=True)
class PlacedLabware:
    """A labware on the deck. ``x``, ``y``: its front left corner (deck coordinates);
    ``definition`` is ``None`` for labware whose definition is unknown."""

    slot: int
    label: str
    uri: str
    definition: LabwareDefinition | None = field(repr=False)
    x: float
    y: float
    width: float
    depth: float
    module: PlacedModule | None = None
    _nozzle_cache: dict[tuple[str, int], tuple[str, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def load_name(self) -> str:
        parts = self.uri.split("/")
        return parts[1] if len(parts) == 3 else (self.label or self.uri)

    @property
    def is_custom(self) -> bool:
        namespace = self.uri.split("/")[0] if "/" in self.uri else ""
        return bool(namespace) and namespace != "opentrons"

    @property
    def name(self) -> str:
        """The name people read: the protocol's label, else the definition's display name."""
        if self.label and self.label != self.load_name:
            return self.label
        if self.definition is not None:
            return self.definition.display_name
        return self.label or self.load_name

    @property
    def is_tiprack(self) -> bool:
        if self.definition is not None:
            return self.definition.is_tiprack
        return "tiprack" in self.load_name

    @property
    def is_trash(self) -> bool:
        if self.definition is not None:
            return self.definition.is_trash
        return "trash" in self.load_name

    @property
    def well_names(self) -> tuple[str, ...]:
        return tuple(self.definition.wells) if self.definition is not None else ()

    def capacity(self, well: str) -> float | None:
        """The well's total volume (µL), when the definition says."""
        if self.definition is None or well not in self.definition.wells:
            return None
        return self.definition.wells[well].total_volume or None

    def well_xy(self, well: str) -> tuple[float, float] | None:
        """The centre of ``well`` in deck coordinates."""
        if self.definition is None or well not in self.definition.wells:
            return None
        w = self.definition.wells[well]
        return self.x + w.x, self.y + w.y

    def wells_under(self, well: str, channels: int) -> tuple[str, ...]:
        """The wells a pipette with ``channels`` nozzles reaches, its back nozzle at
        ``well`` (one entry per nozzle: a reservoir's well appears eight times)."""
        if channels <= 1:
            return (well,)
        key = (well, channels)
        if key not in self._nozzle_cache:
            self._nozzle_cache[key] = self._nozzles(well, channels)
        return self._nozzle_cache[key]

    def _nozzles(self, well: str, channels: int) -> tuple[str, ...]:
        definition = self.definition
        if definition is None or well not in definition.wells:
            match = _WELL_NAME.match(well)
            if not match or len(match.group(1)) != 1:
                return (well,) * channels
            row = string.ascii_uppercase.index(match.group(1))
            return tuple(
                f"{string.ascii_uppercase[row + i]}{match.group(2)}"
                for i in range(channels)
                if row + i < 26
            )
        target = definition.wells[well]
        if definition.centers_multichannel:
            back = target.y + NOZZLE_SPACING * (channels - 1) / 2
        else:
            back = target.y
        found = []
        for i in range(channels):
            name = definition.well_at(target.x, back - NOZZLE_SPACING * i)
            if name is not None:
                found.append(name)
        return tuple(found) or (well,)


def _labware_geometry(
    slot: SlotGeometry, definition: LabwareDefinition | None, module: PlacedModule | None
) -> tuple[float, float, float, float]:
    x, y = slot.x, slot.y
    if module is not None and module.definition is not None:
        dx, dy = module.definition.labware_offset_in(module.slot)
        x, y = x + dx, y + dy
    if definition is None:
        return x, y, slot.width, slot.depth
    return (
        x + definition.corner_x,
        y + definition.corner_y,
        definition.x_dimension,
        definition.y_dimension,
    )


@dataclass
class DeckLayout:
    """Everything on the deck (see the module doc).

    ``labware`` maps each slot to the labware on top there (labware on a module is at the
    module's slot); ``modules`` maps each slot a module takes to it (a thermocycler's four
    slots to the same one); ``pipettes`` maps mounts to the pipettes loaded.
    """

    slots: Mapping[int, SlotGeometry]
    labware: dict[int, PlacedLabware]
    modules: dict[int, PlacedModule]
    pipettes: dict[str, PipetteInfo]
    stacked: list[PlacedLabware] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_equipment(
        cls,
        equipment: Equipment,
        library: DefinitionLibrary | None = None,
        *,
        definitions: Iterable[Mapping[str, Any] | str | Path] = (),
    ) -> DeckLayout:
        """Place ``equipment`` on the deck. ``definitions`` are extra (custom) labware
        definitions, added to ``library`` (a new :class:`DefinitionLibrary` by default)."""
        library = library if library is not None else DefinitionLibrary()
        for item in definitions:
            library.add(item)
        deck = library.deck()
        warnings: list[str] = []
        modules: dict[int, PlacedModule] = {}
        for module in equipment.modules:
            if module.slot is None or module.slot not in deck.slots:
                warnings.append(f"{module.model or module.type}: no deck slot, not drawn")
                continue
            definition = library.module(module.model)
            geometry = deck.slots[module.slot]
            if definition is not None:
                body = definition.body_in(geometry.x, geometry.y, module.slot)
            else:
                body = (geometry.x, geometry.y, geometry.width, geometry.depth)
                warnings.append(f"no definition for module {module.model!r}: drawn as a box")
            placed = PlacedModule(
                slot=module.slot,
                slots=module.slots,
                model=module.model,
                module_type=module.type,
                display_name=definition.display_name if definition else module.display_name,
                definition=definition,
                body=body,
            )
            for covered in placed.slots:
                modules[covered] = placed
        labware: dict[int, PlacedLabware] = {}
        stacked: list[PlacedLabware] = []
        items: list[Labware] = list(equipment.labware)
        if deck.fixed_trash and not any(lw.slot == FIXED_TRASH_SLOT for lw in items):
            items.append(Labware(label="", uri=f"opentrons/{deck.fixed_trash}/1", slot=12))
        for entry in items:
            if entry.slot is None or entry.slot not in deck.slots:
                warnings.append(f"{entry.label or entry.uri}: no deck slot, not drawn")
                continue
            lw_definition = library.labware(entry.uri or entry.label)
            if lw_definition is None:
                warnings.append(
                    f"no definition for {entry.uri or entry.label!r} in slot {entry.slot}: drawn "
                    "as a box (pass its JSON definition to show its wells)"
                )
            host = modules.get(entry.slot)
            host = host if host is not None and host.slot == entry.slot else None
            x, y, width, depth = _labware_geometry(deck.slots[entry.slot], lw_definition, host)
            placed_lw = PlacedLabware(
                slot=entry.slot,
                label=entry.label,
                uri=entry.uri,
                definition=lw_definition,
                x=x,
                y=y,
                width=width,
                depth=depth,
                module=host,
            )
            if entry.slot in labware:
                stacked.append(labware[entry.slot])  # an adapter below: the top one counts
            labware[entry.slot] = placed_lw
        pipettes = {
            p.mount: PipetteInfo.of(p.mount, p.pipette_name, p.channels)
            for p in equipment.pipettes
            if p.mount
        }
        return cls(
            slots=dict(deck.slots),
            labware=labware,
            modules=modules,
            pipettes=pipettes,
            stacked=stacked,
            warnings=warnings,
        )

    @classmethod
    def from_protocol(
        cls,
        protocol: Any,
        library: DefinitionLibrary | None = None,
        *,
        definitions: Iterable[Mapping[str, Any] | str | Path] = (),
    ) -> DeckLayout:
        """Place what ``protocol`` (a ``Protocol``, its ``ProtocolData``, or ``Equipment``)
        needs on the deck."""
        data = getattr(protocol, "data", protocol)
        if isinstance(data, ProtocolData):
            equipment = data.equipment
        elif isinstance(data, Equipment):
            equipment = data
        else:
            raise TypeError(
                "DeckLayout needs a Protocol (robot.upload / robot.protocol), its ProtocolData "
                f"or its Equipment, not {type(protocol).__name__}."
            )
        return cls.from_equipment(equipment, library, definitions=definitions)

    # -- reading ---------------------------------------------------------------------------

    def labware_in(self, slot: int | None) -> PlacedLabware | None:
        return self.labware.get(slot) if slot is not None else None

    def unique_modules(self) -> list[PlacedModule]:
        seen: dict[int, PlacedModule] = {}
        for module in self.modules.values():
            seen.setdefault(id(module), module)
        return sorted(seen.values(), key=lambda m: m.slot)

    def covered_slots(self) -> dict[int, PlacedModule]:
        """Slots taken by a module listed at another slot (a thermocycler's 8, 10 and 11)."""
        return {slot: m for slot, m in self.modules.items() if slot != m.slot}

    def find(self, slot: int | None, name: str | None = None) -> PlacedLabware | None:
        """The labware in ``slot``; where labware is stacked there, the one whose name or
        load name starts ``name`` (a step text's labware), else the top one."""
        top = self.labware_in(slot)
        if top is None or not name or not self.stacked:
            return top
        for item in (top, *(lw for lw in self.stacked if lw.slot == slot)):
            names = (item.name, item.load_name, getattr(item.definition, "display_name", ""))
            if any(n and name.startswith(n) for n in names):
                return item
        return top

    def bounds(self, margin: float = 6.0) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` of everything drawn, deck coordinates."""
        boxes = [(s.x, s.y, s.width, s.depth) for s in self.slots.values()]
        boxes += [(lw.x, lw.y, lw.width, lw.depth) for lw in self.labware.values()]
        boxes += [m.body for m in self.unique_modules()]
        x0 = min(b[0] for b in boxes) - margin
        y0 = min(b[1] for b in boxes) - margin
        x1 = max(b[0] + b[2] for b in boxes) + margin
        y1 = max(b[1] + b[3] for b in boxes) + margin
        return x0, y0, x1, y1
