"""Labware, module and deck definitions: where the deck view's shapes come from.

Standard definitions are read from the ``opentrons-shared-data`` package (Opentrons' own
definitions, the ones the robot and ``ot2-sim`` use), never copied here. Only its JSON files
are read, through :mod:`importlib.resources`: its Python code (pydantic models) is never
imported, and ``opentrons`` itself is not needed. Custom labware comes from the definitions
uploaded with a protocol (JSON files or dicts handed to :class:`DefinitionLibrary`).

Coordinates are the robot's, in millimetres: x to the right, y to the back, from the front
left corner of slot 1. A labware's wells are given from its own front left corner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DeckDefinition",
    "DefinitionError",
    "DefinitionLibrary",
    "LabwareDefinition",
    "ModuleDefinition",
    "SlotGeometry",
    "Well",
    "shared_data_version",
]

_SHARED = "opentrons_shared_data"
_DECK = "ot2_standard"


class DefinitionError(ValueError):
    """A labware definition could not be read (not JSON, or not a labware definition)."""


@dataclass(frozen=True)
class Well:
    """One well of a labware definition: centre ``(x, y)`` from the labware's front left
    corner; ``diameter`` for a circular well, ``size_x``/``size_y`` for a rectangular one."""

    name: str
    x: float
    y: float
    circular: bool
    diameter: float
    size_x: float
    size_y: float
    depth: float
    total_volume: float

    def contains(self, x: float, y: float, margin: float = 0.5) -> bool:
        """Whether the point (labware coordinates) lies in this well."""
        if self.circular:
            r = self.diameter / 2 + margin
            return (x - self.x) ** 2 + (y - self.y) ** 2 <= r * r
        return abs(x - self.x) <= self.size_x / 2 + margin and abs(y - self.y) <= (
            self.size_y / 2 + margin
        )


def _float(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


@dataclass(frozen=True)
class LabwareDefinition:
    """A labware definition (schema 2), reduced to what the deck view draws and tracks."""

    load_name: str
    namespace: str
    version: int
    display_name: str
    category: str
    x_dimension: float
    y_dimension: float
    corner_x: float
    corner_y: float
    wells: Mapping[str, Well] = field(repr=False)
    is_tiprack: bool = False
    quirks: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uri(self) -> str:
        return f"{self.namespace}/{self.load_name}/{self.version}"

    @property
    def is_trash(self) -> bool:
        return self.category == "trash" or "fixedTrash" in self.quirks

    @property
    def tip_volume(self) -> float | None:
        """The volume of this tip rack's tips (µL), ``None`` for other labware."""
        if not self.is_tiprack or not self.wells:
            return None
        return next(iter(self.wells.values())).total_volume

    @property
    def centers_multichannel(self) -> bool:
        """A multi-channel pipette centres its nozzles on these wells (reservoirs, trash)."""
        return "centerMultichannelOnWells" in self.quirks

    def well_at(self, x: float, y: float) -> str | None:
        """The well containing the point (labware coordinates), or ``None``."""
        for well in self.wells.values():
            if well.contains(x, y):
                return well.name
        return None

    @classmethod
    def from_json(cls, data: Any, *, source: str = "definition") -> LabwareDefinition:
        if not isinstance(data, Mapping):
            raise DefinitionError(f"{source} is not a labware definition (not a JSON object).")
        parameters = data.get("parameters")
        wells = data.get("wells")
        dims = data.get("dimensions")
        if not (
            isinstance(parameters, Mapping)
            and isinstance(wells, Mapping)
            and isinstance(dims, Mapping)
        ):
            raise DefinitionError(
                f"{source} is not a labware definition: it needs 'parameters', 'wells' and "
                "'dimensions' (schema 2, as the Opentrons Labware Creator writes it)."
            )
        load_name = parameters.get("loadName")
        if not isinstance(load_name, str) or not load_name:
            raise DefinitionError(f"{source} has no parameters.loadName.")
        metadata = data.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        corner = data.get("cornerOffsetFromSlot")
        corner = corner if isinstance(corner, Mapping) else {}
        order: list[str] = []
        ordering = data.get("ordering")
        if isinstance(ordering, list):
            for column in ordering:
                if isinstance(column, list):
                    order += [str(name) for name in column if name in wells]
        order += [str(name) for name in wells if name not in order]
        parsed: dict[str, Well] = {}
        for name in order:
            spec = wells[name]
            if not isinstance(spec, Mapping):
                continue
            circular = spec.get("shape") == "circular"
            parsed[name] = Well(
                name=name,
                x=_float(spec.get("x")),
                y=_float(spec.get("y")),
                circular=circular,
                diameter=_float(spec.get("diameter"), 5.0),
                size_x=_float(spec.get("xDimension"), 5.0),
                size_y=_float(spec.get("yDimension"), 5.0),
                depth=_float(spec.get("depth")),
                total_volume=_float(spec.get("totalLiquidVolume")),
            )
        quirks = parameters.get("quirks")
        version = data.get("version")
        return cls(
            load_name=load_name,
            namespace=str(data.get("namespace") or "custom_beta"),
            version=version if isinstance(version, int) and not isinstance(version, bool) else 1,
            display_name=str(metadata.get("displayName") or load_name),
            category=str(metadata.get("displayCategory") or ""),
            x_dimension=_float(dims.get("xDimension"), 127.76),
            y_dimension=_float(dims.get("yDimension"), 85.48),
            corner_x=_float(corner.get("x")),
            corner_y=_float(corner.get("y")),
            wells=parsed,
            is_tiprack=bool(parameters.get("isTiprack")),
            quirks=tuple(str(q) for q in quirks) if isinstance(quirks, list) else (),
            raw=data,
        )


@dataclass(frozen=True)
class ModuleDefinition:
    """A module definition (schema 3): its body and where labware sits on it."""

    model: str
    module_type: str
    display_name: str
    x_dimension: float
    y_dimension: float
    footprint_x: float
    footprint_y: float
    corner_x: float
    corner_y: float
    labware_offset: tuple[float, float, float]
    orientation: Mapping[str, str]
    slot_transforms: Mapping[str, Any]

    def labware_offset_in(self, slot: int) -> tuple[float, float]:
        """Where labware sits on the module in ``slot``, from the slot's front left corner
        (the definition's ``labwareOffset``, transformed for that slot of the OT-2 deck)."""
        x, y, z = self.labware_offset
        transform = self.slot_transforms.get(str(slot), {})
        matrix = transform.get("labwareOffset") if isinstance(transform, Mapping) else None
        if isinstance(matrix, list) and len(matrix) >= 2:
            vector = (x, y, z, 1.0)
            x, y = (
                sum(_float(a) * b for a, b in zip(row, vector, strict=False)) for row in matrix[:2]
            )
        return x, y

    def rotated_in(self, slot: int) -> bool:
        """Whether the module is turned round in ``slot`` (right-hand column)."""
        return self.orientation.get(str(slot), "left") == "right"

    def body_in(self, slot_x: float, slot_y: float, slot: int) -> tuple[float, float, float, float]:
        """The module body's rectangle ``(x, y, width, depth)`` in deck coordinates."""
        x0 = self.corner_x
        y0 = self.corner_y
        if self.rotated_in(slot):  # turned by 180° about the footprint's centre
            x0 = self.footprint_x - (x0 + self.x_dimension)
            y0 = self.footprint_y - (y0 + self.y_dimension)
        return slot_x + x0, slot_y + y0, self.x_dimension, self.y_dimension

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModuleDefinition:
        dims = data.get("dimensions") or {}
        corner = data.get("cornerOffsetFromSlot") or {}
        offset = data.get("labwareOffset") or {}
        transforms = (data.get("slotTransforms") or {}).get(_DECK) or {}
        x_dim = _float(dims.get("xDimension"), 128.0)
        y_dim = _float(dims.get("yDimension"), 86.0)
        return cls(
            model=str(data.get("model") or ""),
            module_type=str(data.get("moduleType") or ""),
            display_name=str(data.get("displayName") or data.get("model") or "module"),
            x_dimension=x_dim,
            y_dimension=y_dim,
            footprint_x=_float(dims.get("footprintXDimension"), min(x_dim, 128.0)),
            footprint_y=_float(dims.get("footprintYDimension"), min(y_dim, 86.0)),
            corner_x=_float(corner.get("x")),
            corner_y=_float(corner.get("y")),
            labware_offset=(
                _float(offset.get("x")),
                _float(offset.get("y")),
                _float(offset.get("z")),
            ),
            orientation=dict(data.get("orientation") or {}),
            slot_transforms=dict(transforms),
        )


@dataclass(frozen=True)
class SlotGeometry:
    """One deck slot: its front left corner and size."""

    slot: int
    x: float
    y: float
    width: float
    depth: float


@dataclass(frozen=True)
class DeckDefinition:
    """The OT-2 deck: its 12 slots and the fixed trash's labware."""

    slots: Mapping[int, SlotGeometry]
    fixed_trash: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeckDefinition:
        slots: dict[int, SlotGeometry] = {}
        locations = data.get("locations") or {}
        for item in locations.get("orderedSlots") or []:
            slot_id = str(item.get("id", ""))
            if not slot_id.isdigit():
                continue
            x, y = (_float(v) for v in (item.get("position") or [0, 0])[:2])
            box = item.get("boundingBox") or {}
            slots[int(slot_id)] = SlotGeometry(
                int(slot_id),
                x,
                y,
                _float(box.get("xDimension"), 128.0),
                _float(box.get("yDimension"), 86.0),
            )
        trash = None
        for fixture in locations.get("fixtures") or []:
            if fixture.get("id") == "fixedTrash":
                trash = str(fixture.get("labware") or "") or None
        return cls(slots=slots, fixed_trash=trash)


# -- opentrons-shared-data ------------------------------------------------------------------


def _shared_root() -> Any:
    try:
        return resources.files(_SHARED) / "data"
    except ModuleNotFoundError as exc:
        raise DefinitionError(
            "The deck view reads Opentrons' labware definitions from the "
            "'opentrons-shared-data' package, which is not installed: "
            "pip install 'opentrons-shared-data>=8,<9'."
        ) from exc


def shared_data_version() -> str | None:
    """The installed ``opentrons-shared-data`` version (``None`` when missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opentrons-shared-data")
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=512)
def _standard_labware(load_name: str, version: int | None) -> LabwareDefinition | None:
    if not load_name or "/" in load_name or load_name.startswith("."):
        return None
    folder = _shared_root() / "labware" / "definitions" / "2" / load_name
    if not folder.is_dir():
        return None
    if version is None:
        versions = sorted(int(p.name[:-5]) for p in folder.iterdir() if p.name[:-5].isdigit())
        if not versions:
            return None
        version = versions[-1]
    path = folder / f"{version}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return LabwareDefinition.from_json(data, source=f"{load_name} v{version}")


@lru_cache(maxsize=32)
def _standard_module(model: str) -> ModuleDefinition | None:
    if not model or "/" in model or model.startswith("."):
        return None
    path = _shared_root() / "module" / "definitions" / "3" / f"{model}.json"
    if not path.is_file():
        return None
    return ModuleDefinition.from_json(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _standard_deck() -> DeckDefinition:
    path = _shared_root() / "deck" / "definitions" / "3" / f"{_DECK}.json"
    return DeckDefinition.from_json(json.loads(path.read_text(encoding="utf-8")))


def _split_uri(uri: str) -> tuple[str, str, int | None]:
    """``"opentrons/corning_96_wellplate_360ul_flat/1"`` -> namespace, load name, version."""
    parts = uri.split("/")
    if len(parts) == 3:
        version = int(parts[2]) if parts[2].isdigit() else None
        return parts[0], parts[1], version
    return "", uri, None


class DefinitionLibrary:
    """Finds the definition of each labware and module a protocol loads.

    ``custom`` are extra labware definitions: dicts (parsed JSON) or paths to JSON files,
    e.g. the custom labware uploaded with the protocol. They are matched by URI
    (``namespace/loadName/version``) or load name, and win over the standard ones.
    ``standard=False`` uses custom definitions only.
    """

    def __init__(
        self, custom: Iterable[Mapping[str, Any] | str | Path] = (), *, standard: bool = True
    ) -> None:
        self.standard = standard
        self._custom: dict[str, LabwareDefinition] = {}
        for item in custom:
            self.add(item)

    def add(self, definition: Mapping[str, Any] | str | Path) -> LabwareDefinition:
        """Add a custom labware definition (a dict or a JSON file); returns it parsed."""
        if isinstance(definition, (str, Path)):
            path = Path(definition)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise DefinitionError(
                    f"Cannot read the labware definition {path}: {exc.strerror or exc}."
                ) from exc
            except json.JSONDecodeError as exc:
                raise DefinitionError(
                    f"{path} is not JSON (line {exc.lineno}: {exc.msg}); a labware definition "
                    "is the JSON file the Opentrons Labware Creator saves."
                ) from exc
            parsed = LabwareDefinition.from_json(data, source=str(path))
        else:
            parsed = LabwareDefinition.from_json(definition)
        self._custom[parsed.uri] = parsed
        self._custom.setdefault(parsed.load_name, parsed)
        return parsed

    @property
    def custom(self) -> list[LabwareDefinition]:
        seen: dict[int, LabwareDefinition] = {}
        for item in self._custom.values():
            seen.setdefault(id(item), item)
        return list(seen.values())

    def labware(self, uri_or_load_name: str) -> LabwareDefinition | None:
        """The definition for a labware URI or load name; ``None`` when unknown."""
        if uri_or_load_name in self._custom:
            return self._custom[uri_or_load_name]
        namespace, load_name, version = _split_uri(uri_or_load_name)
        if load_name in self._custom:
            return self._custom[load_name]
        if not self.standard or (namespace and namespace != "opentrons"):
            return None
        return _standard_labware(load_name, version)

    def module(self, model: str) -> ModuleDefinition | None:
        """The definition of a module model (``"magneticModuleV2"``); ``None`` when unknown."""
        return _standard_module(model)

    def deck(self) -> DeckDefinition:
        """The OT-2 standard deck."""
        return _standard_deck()
