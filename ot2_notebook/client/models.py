"""Plain data parsed from the robot's JSON: protocols, their required equipment and errors,
sessions and their events, protocol steps, the robot's health and attached hardware.

These classes hold data only (no HTTP), so widgets and magics can render them and tests
can build them from recorded JSON. Parsing is tolerant: a field the robot does not send
becomes ``None`` or an empty list rather than a ``KeyError``, because robots on different
4.x releases send slightly different shapes (``slot`` in 4.0 docs, ``location`` in 4.7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ot2_notebook.json_values import as_int, as_number
from ot2_notebook.step_data import STRUCTURED_KEY, StructuredStep, parse_structured

if TYPE_CHECKING:  # pandas is imported lazily: it is slow to import
    import pandas


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def parse_timestamp(value: Any) -> datetime | None:
    """Parse the robot's ISO 8601 timestamps; ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Pipette:
    """A pipette the protocol loads: ``mount`` is ``"left"`` or ``"right"``."""

    mount: str
    pipette_name: str
    requested_as: str
    channels: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pipette:
        name = str(data.get("pipetteName") or data.get("requestedAs") or "")
        return cls(
            mount=str(data.get("mount") or ""),
            pipette_name=name,
            requested_as=str(data.get("requestedAs") or name),
            channels=as_int(data.get("channels")),
        )


@dataclass(frozen=True)
class Labware:
    """A labware the protocol loads, at deck ``slot`` (1-12; labware on a module is
    listed at the module's slot)."""

    label: str
    uri: str
    slot: int | None

    @property
    def load_name(self) -> str:
        """``opentrons/corning_96_wellplate_360ul_flat/1`` -> the load name in the middle."""
        parts = self.uri.split("/")
        return parts[1] if len(parts) == 3 else self.label

    @property
    def namespace(self) -> str:
        return self.uri.split("/")[0] if "/" in self.uri else ""

    @property
    def is_custom(self) -> bool:
        """Custom labware lives outside the ``opentrons`` namespace."""
        return bool(self.namespace) and self.namespace != "opentrons"

    @property
    def is_fixed_trash(self) -> bool:
        return "fixed_trash" in self.load_name or "_trash_" in self.load_name

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Labware:
        slot = as_int(data.get("slot"))
        if slot is None:
            slot = as_int(data.get("location"))
        return cls(label=str(data.get("label") or ""), uri=str(data.get("uri") or ""), slot=slot)


@dataclass(frozen=True)
class Module:
    """A hardware module (magnetic, temperature, thermocycler, ...) at deck ``slot``.
    A thermocycler reports slot 7 and also covers 8, 10 and 11."""

    type: str
    model: str
    slot: int | None

    @property
    def slots(self) -> tuple[int, ...]:
        """Every deck slot the module occupies."""
        if self.slot is None:
            return ()
        if self.type == "thermocyclerModuleType":
            return (7, 8, 10, 11)
        return (self.slot,)

    @property
    def display_name(self) -> str:
        names = {
            "magneticModuleV1": "Magnetic Module GEN1",
            "magneticModuleV2": "Magnetic Module GEN2",
            "temperatureModuleV1": "Temperature Module GEN1",
            "temperatureModuleV2": "Temperature Module GEN2",
            "thermocyclerModuleV1": "Thermocycler GEN1",
            "thermocyclerModuleV2": "Thermocycler GEN2",
            "heaterShakerModuleV1": "Heater-Shaker GEN1",
        }
        return names.get(self.model, self.model or self.type)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Module:
        slot = as_int(data.get("slot"))
        if slot is None:
            slot = as_int(data.get("location"))
        return cls(type=str(data.get("type") or ""), model=str(data.get("model") or ""), slot=slot)


@dataclass(frozen=True)
class Liquid:
    """A liquid the protocol defines and loads into wells (robot software 5+ analyses,
    API level 2.14+): its name, description, display colour and ``wells``
    ``(slot, labware load name, well, µL)``."""

    name: str
    description: str = ""
    color: str | None = None
    wells: tuple[tuple[int | None, str, str, float], ...] = ()

    @property
    def volume(self) -> float:
        """The µL loaded in all its wells."""
        return sum(w[3] for w in self.wells)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Liquid:
        wells = []
        for item in _as_list(data.get("wells")):
            item = _as_mapping(item)
            volume = as_number(item.get("volume"))
            wells.append(
                (
                    as_int(item.get("slot")),
                    str(item.get("labware") or ""),
                    str(item.get("well") or ""),
                    volume if volume is not None else 0.0,
                )
            )
        color = data.get("displayColor")
        return cls(
            name=str(data.get("displayName") or data.get("name") or ""),
            description=str(data.get("description") or ""),
            color=str(color) if color else None,
            wells=tuple(wells),
        )


@dataclass(frozen=True)
class Equipment:
    """What a protocol needs on the robot, from the robot's analysis (``liquids``: only
    from robot software 5+)."""

    pipettes: tuple[Pipette, ...] = ()
    labware: tuple[Labware, ...] = ()
    modules: tuple[Module, ...] = ()
    liquids: tuple[Liquid, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> Equipment:
        data = _as_mapping(data)
        return cls(
            pipettes=tuple(
                Pipette.from_json(_as_mapping(i)) for i in _as_list(data.get("pipettes"))
            ),
            labware=tuple(Labware.from_json(_as_mapping(i)) for i in _as_list(data.get("labware"))),
            modules=tuple(Module.from_json(_as_mapping(i)) for i in _as_list(data.get("modules"))),
            liquids=tuple(Liquid.from_json(_as_mapping(i)) for i in _as_list(data.get("liquids"))),
        )

    def pipette_on(self, mount: str) -> Pipette | None:
        return next((p for p in self.pipettes if p.mount == mount), None)

    def labware_in(self, slot: int) -> list[Labware]:
        return [lw for lw in self.labware if lw.slot == slot]

    def module_in(self, slot: int) -> Module | None:
        return next((m for m in self.modules if slot in m.slots), None)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per item: kind, name, slot/mount, and details."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for p in self.pipettes:
            rows.append(
                {
                    "kind": "pipette",
                    "name": p.pipette_name,
                    "where": p.mount,
                    "detail": f"{p.channels}-channel" if p.channels else "",
                    "requested_as": p.requested_as,
                }
            )
        for m in self.modules:
            rows.append(
                {
                    "kind": "module",
                    "name": m.model,
                    "where": f"slot {m.slot}",
                    "detail": m.type,
                    "requested_as": "",
                }
            )
        for lw in self.labware:
            rows.append(
                {
                    "kind": "labware",
                    "name": lw.label,
                    "where": f"slot {lw.slot}",
                    "detail": lw.uri,
                    "requested_as": "",
                }
            )
        return pd.DataFrame(rows, columns=["kind", "name", "where", "detail", "requested_as"])

    def labware_dataframe(self) -> pandas.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {"slot": lw.slot, "label": lw.label, "uri": lw.uri, "custom": lw.is_custom}
                for lw in self.labware
            ],
            columns=["slot", "label", "uri", "custom"],
        )

    def modules_dataframe(self) -> pandas.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [{"slot": m.slot, "type": m.type, "model": m.model} for m in self.modules],
            columns=["slot", "type", "model"],
        )

    def liquids_dataframe(self) -> pandas.DataFrame:
        """One row per well a liquid is loaded into: liquid, slot, labware, well, µL."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "liquid": liquid.name,
                    "slot": slot,
                    "labware": labware,
                    "well": well,
                    "volume": volume,
                }
                for liquid in self.liquids
                for slot, labware, well, volume in liquid.wells
            ],
            columns=["liquid", "slot", "labware", "well", "volume"],
        )


@dataclass(frozen=True)
class ProtocolErrorInfo:
    """One entry of a protocol's ``errors`` (analysis) or a session's run error.

    A run that loads a pipette or module the robot lacks fails with ``wanted`` (what the
    protocol asked for), ``attached`` (what is there, ``None``: nothing) and ``mount`` (a
    pipette's) or ``location`` (a module's slot): the simulator adds them, 4.x robots do not.
    """

    type: str
    description: str
    line: int | None = None
    file: str | None = None
    exception_type: str | None = None
    mount: str | None = None
    wanted: str | None = None
    attached: str | None = None
    location: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProtocolErrorInfo:
        def text(key: str) -> str | None:
            return str(data[key]) if data.get(key) else None

        return cls(
            type=str(data.get("type") or "Error"),
            description=str(data.get("description") or data.get("detail") or ""),
            line=as_int(data.get("lineNumber")),
            file=text("fileName"),
            exception_type=text("exceptionType"),
            mount=text("mount"),
            wanted=text("wanted"),
            attached=text("attached"),
            location=as_int(data.get("location")),
        )

    def __str__(self) -> str:
        where = ""
        if self.file and self.line is not None:
            where = f" ({self.file}, line {self.line})"
        elif self.line is not None:
            where = f" (line {self.line})"
        kind = self.type
        if self.exception_type and self.exception_type != self.type:
            kind = f"{self.type}: {self.exception_type}"
        return f"{kind}: {self.description}{where}"


@dataclass(frozen=True)
class ProtocolData:
    """A protocol resource as the robot describes it (``GET /protocols/{id}``)."""

    id: str
    protocol_file: str
    support_files: tuple[str, ...]
    metadata: Mapping[str, Any]
    equipment: Equipment
    errors: tuple[ProtocolErrorInfo, ...]
    created_at: datetime | None
    last_modified_at: datetime | None
    estimated_duration: float | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: The robot's own id of the protocol where it differs from ``id`` (robot software 5+
    #: names protocols by UUID; ``id`` is the name this client gives them).
    robot_id: str | None = None
    #: Whether the robot stores the protocol (robot software 5+ refuses some uploads that
    #: a 4.x robot stores with their errors: ``errors`` then says why).
    stored: bool = True

    @property
    def files(self) -> tuple[str, ...]:
        return (self.protocol_file, *self.support_files)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("protocolName") or self.id)

    @property
    def api_level(self) -> str | None:
        level = self.metadata.get("apiLevel")
        return str(level) if level is not None else None

    @classmethod
    def from_json(cls, data: Any) -> ProtocolData:
        data = _as_mapping(data)
        protocol_file = str(_as_mapping(data.get("protocolFile")).get("basename") or "")
        support = tuple(
            str(_as_mapping(f).get("basename") or "") for f in _as_list(data.get("supportFiles"))
        )
        duration = data.get("estimatedDuration")
        return cls(
            id=str(data.get("id") or ""),
            protocol_file=protocol_file,
            support_files=support,
            metadata=dict(_as_mapping(data.get("metadata"))),
            equipment=Equipment.from_json(data.get("requiredEquipment")),
            errors=tuple(
                ProtocolErrorInfo.from_json(_as_mapping(e)) for e in _as_list(data.get("errors"))
            ),
            created_at=parse_timestamp(data.get("createdAt")),
            last_modified_at=parse_timestamp(data.get("lastModifiedAt")),
            estimated_duration=as_number(duration),
            raw=dict(data),
            robot_id=str(data["robotId"]) if data.get("robotId") else None,
            stored=data.get("stored") is not False,
        )


@dataclass(frozen=True)
class SessionEvent:
    """One entry of a session's ``details.events``.

    ``structured`` is the step's data for deck playback, when the robot adds it to a step's
    start (``params.structured``: ``ot2-sim`` does, a real 4.x robot does not), parsed by
    :func:`ot2_notebook.step_data.parse_structured`; ``None`` otherwise.
    """

    source: str
    event: str
    command_id: str | None
    timestamp: datetime | None
    text: str | None
    structured: StructuredStep | None = None

    @property
    def is_step_start(self) -> bool:
        return self.source == "protocol" and self.event.endswith(".start")

    @property
    def step_name(self) -> str:
        """``command.ASPIRATE.start`` -> ``ASPIRATE``."""
        parts = self.event.split(".")
        return parts[1] if len(parts) == 3 and parts[0] == "command" else self.event

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionEvent:
        params = _as_mapping(data.get("params"))
        text = params.get("text")
        return cls(
            source=str(data.get("source") or ""),
            event=str(data.get("event") or ""),
            command_id=(str(data["commandId"]) if data.get("commandId") is not None else None),
            timestamp=parse_timestamp(data.get("timestamp")),
            text=str(text) if text is not None else None,
            structured=parse_structured(params.get(STRUCTURED_KEY)),
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class StepEvent:
    """A protocol step starting or ending in a run: ``index`` of ``total`` steps (either may
    be ``None`` when unknown), ``text`` as the robot describes it.

    ``structured`` is the step as data (pipette, volume, flow rate, place, estimated
    seconds), for a start whose robot sends it: ``ot2-sim`` puts it in the ``ProtocolStep``
    frame and the start event's ``params``; a 4.x robot sends only the text, so it is
    ``None`` there and readers fall back to the text. Another source of steps (e.g. a robot
    software 8 client, whose run commands carry their parameters) fills it with a
    :class:`~ot2_notebook.step_data.StructuredStep`, or with
    ``parse_structured({"command": "ASPIRATE", "pipette": {...}, ...})``
    (:mod:`ot2_notebook.step_data` documents the keys).
    """

    session_id: str
    command_id: str | None
    event: str
    text: str | None
    index: int | None
    total: int | None
    structured: StructuredStep | None = None

    @property
    def phase(self) -> str:
        """``"start"`` or ``"end"``."""
        return self.event.rsplit(".", 1)[-1]

    @property
    def step_name(self) -> str:
        """``command.ASPIRATE.start`` -> ``ASPIRATE``."""
        parts = self.event.split(".")
        return parts[1] if len(parts) == 3 and parts[0] == "command" else self.event

    @property
    def key(self) -> tuple[str | None, str]:
        """What identifies this step event in a session: its command and phase."""
        return (self.command_id, self.event)

    @classmethod
    def from_feed(cls, session_id: str, data: Mapping[str, Any]) -> StepEvent:
        """A ``ProtocolStep`` notification's data (``commandId``, ``event``, ``text``,
        ``index``, ``total``, and ``structured`` where the robot adds it)."""
        command_id = data.get("commandId")
        text = data.get("text")
        return cls(
            session_id=session_id,
            command_id=str(command_id) if command_id is not None else None,
            event=str(data.get("event") or ""),
            text=text if isinstance(text, str) else None,
            index=_int_or_none(data.get("index")),
            total=_int_or_none(data.get("total")),
            structured=parse_structured(data.get(STRUCTURED_KEY)),
        )


@dataclass(frozen=True)
class SessionData:
    """A protocol session as the robot describes it (``GET /sessions/{id}``).

    ``errors`` holds the run's error when the robot reports one: the simulator adds
    ``details.errors`` (same shape as a protocol's analysis errors); a real 4.x robot sends
    nothing, so it stays empty there even when ``state`` is ``"error"``.
    """

    id: str
    session_type: str
    protocol_id: str
    state: str
    events: tuple[SessionEvent, ...]
    errors: tuple[ProtocolErrorInfo, ...]
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: The robot's own run status (robot software 5+: ``idle``, ``succeeded`` ...), which
    #: ``state`` shows as a session state; ``None`` on 4.x (``state`` is the robot's own).
    robot_status: str | None = None
    #: The robot's id of the run's protocol (robot software 5+), for reading it back.
    protocol_robot_id: str | None = None

    @property
    def error(self) -> ProtocolErrorInfo | None:
        """The run's error, if the robot reported one."""
        return self.errors[0] if self.errors else None

    @classmethod
    def from_json(cls, data: Any) -> SessionData:
        data = _as_mapping(data)
        details = _as_mapping(data.get("details"))
        create_params = _as_mapping(data.get("createParams"))
        protocol_id = details.get("protocolId") or create_params.get("protocolId") or ""
        return cls(
            id=str(data.get("id") or ""),
            session_type=str(data.get("sessionType") or ""),
            protocol_id=str(protocol_id),
            state=str(details.get("currentState") or ""),
            events=tuple(
                SessionEvent.from_json(_as_mapping(e)) for e in _as_list(details.get("events"))
            ),
            errors=tuple(
                ProtocolErrorInfo.from_json(_as_mapping(e)) for e in _as_list(details.get("errors"))
            ),
            created_at=parse_timestamp(data.get("createdAt")),
            raw=dict(data),
            robot_status=str(details["robotStatus"]) if details.get("robotStatus") else None,
            protocol_robot_id=(
                str(details["protocolRobotId"]) if details.get("protocolRobotId") else None
            ),
        )


@dataclass(frozen=True)
class CommandResult:
    """The robot's answer to ``POST /sessions/{id}/commands/execute``.

    The session's state changes after this answer, in the background: read it with
    ``Session.refresh()`` or wait for it with ``Session.wait_for()``.
    """

    id: str
    command: str
    status: str
    created_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> CommandResult:
        data = _as_mapping(data)
        return cls(
            id=str(data.get("id") or ""),
            command=str(data.get("command") or ""),
            status=str(data.get("status") or ""),
            created_at=parse_timestamp(data.get("createdAt")),
            completed_at=parse_timestamp(data.get("completedAt")),
        )


def _as_version(value: Any) -> tuple[int, ...] | None:
    items = _as_list(value)
    if items and all(as_int(v) is not None for v in items):
        return tuple(int(v) for v in items)
    return None


@dataclass(frozen=True)
class Health:
    """``GET /health``: who the robot is and which software it runs."""

    name: str
    api_version: str
    fw_version: str
    system_version: str
    minimum_protocol_api_version: tuple[int, ...] | None
    maximum_protocol_api_version: tuple[int, ...] | None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Health:
        data = _as_mapping(data)
        return cls(
            name=str(data.get("name") or data.get("moduleType") or ""),
            api_version=str(data.get("api_version") or ""),
            fw_version=str(data.get("fw_version") or ""),
            system_version=str(data.get("system_version") or ""),
            minimum_protocol_api_version=_as_version(data.get("minimum_protocol_api_version")),
            maximum_protocol_api_version=_as_version(data.get("maximum_protocol_api_version")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AttachedPipette:
    """The pipette on one of the robot's mounts (``GET /pipettes``); ``model`` and ``name``
    are ``None`` on an empty mount."""

    mount: str
    model: str | None
    name: str | None
    serial: str | None = None

    @property
    def attached(self) -> bool:
        return self.model is not None or self.name is not None

    @classmethod
    def from_json(cls, mount: str, data: Any) -> AttachedPipette:
        data = _as_mapping(data)

        def text(key: str) -> str | None:
            return str(data[key]) if data.get(key) else None

        return cls(mount=mount, model=text("model"), name=text("name"), serial=text("id"))


@dataclass(frozen=True)
class AttachedModule:
    """A module plugged into the robot (an item of ``GET /modules``): ``model`` is its
    ``moduleModel`` (``magneticModuleV2``)."""

    model: str
    name: str
    serial: str | None = None
    status: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> AttachedModule:
        data = _as_mapping(data)
        serial = data.get("serial") or data.get("serialNumber")  # 4.x / 5+
        status = data.get("status")
        return cls(
            model=str(data.get("moduleModel") or ""),
            name=str(data.get("name") or data.get("moduleType") or ""),
            serial=str(serial) if serial else None,
            status=str(status) if status else None,
        )


@dataclass(frozen=True)
class AttachedEquipment:
    """What the robot has: ``GET /pipettes`` and ``GET /modules``."""

    left: AttachedPipette
    right: AttachedPipette
    modules: tuple[AttachedModule, ...] = ()

    def pipette_on(self, mount: str) -> AttachedPipette:
        return self.left if mount == "left" else self.right

    def as_hardware_file(self) -> dict[str, Any]:
        """This hardware in the file format of ``ot2-sim --hardware`` (JSON), so that a
        simulated robot can have a real robot's pipettes and modules."""

        def pipette(item: AttachedPipette) -> dict[str, str] | None:
            if not item.attached:
                return None
            entry = {"model": str(item.model or item.name)}
            if item.serial:
                entry["id"] = item.serial
            return entry

        return {
            "pipettes": {"left": pipette(self.left), "right": pipette(self.right)},
            "modules": [
                {"model": m.model, "serial": m.serial} if m.serial else m.model
                for m in self.modules
            ],
        }

    @classmethod
    def from_json(cls, pipettes: Any, modules: Any) -> AttachedEquipment:
        pipettes = _as_mapping(pipettes)
        body = _as_mapping(modules)
        # 4.x: {"modules": [...]}; robot software 5+: {"data": [...], "meta": ...}
        items = body.get("modules") if "modules" in body else body.get("data")
        return cls(
            left=AttachedPipette.from_json("left", pipettes.get("left")),
            right=AttachedPipette.from_json("right", pipettes.get("right")),
            modules=tuple(AttachedModule.from_json(m) for m in _as_list(items)),
        )
