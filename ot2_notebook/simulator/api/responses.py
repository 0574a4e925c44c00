"""The success answers, as pydantic models: they document ``/openapi.json`` and check every answer.

Each route declares one of these as its ``response_model`` (with ``exclude_unset``, so an
optional field the robot leaves out stays out rather than becoming ``null``), so the OpenAPI
document describes every answer field by field, and an answer that strays from its
description fails loudly in tests instead of reaching a client. The shapes are those of
robot software 4.7 (``tests/recordings/robot-server-4``), plus the simulator's documented
additions (README: "Where the simulator differs").

Written for pydantic 1 and 2 alike: opentrons 8.0-8.1 pin pydantic 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ot2_notebook import session_states as states

if TYPE_CHECKING:
    SessionState = str
else:
    SessionState = Literal[states.STATES]

ISO = "a timezone-aware UTC ISO 8601 timestamp, e.g. 2021-01-06T14:14:36.337610+00:00"


# -- shared ------------------------------------------------------------------------------------


class Link(BaseModel):
    href: str


class MetaLink(BaseModel):
    href: str
    meta: None = None


class ProtocolError(BaseModel):
    """An analysis or run error, in the 4.x shape plus the simulator's additions."""

    type: str = Field(description="e.g. SyntaxError, ExceptionInProtocolError, AnalysisTimeout")
    description: str
    lineNumber: int | None = Field(None, description="the failing line (absent when unknown)")
    fileName: str | None = Field(
        None, description="the file of the failing line: the protocol or a support module"
    )
    exceptionType: str | None = Field(None, description="the Python exception class")
    mount: str | None = Field(
        None, description="a run that loads a pipette the robot lacks: the mount (addition)"
    )
    wanted: str | None = Field(
        None, description="the pipette name or module model the protocol asked for (addition)"
    )
    attached: str | None = Field(
        None, description="the pipette model or module model attached instead, or null"
    )
    location: int | None = Field(None, description="a missing module's deck slot (addition)")


# -- /health -----------------------------------------------------------------------------------


class HealthLinks(BaseModel):
    apiLog: str
    serialLog: str
    serverLog: str
    apiSpec: str
    systemTime: str


class SimulatorInfo(BaseModel):
    """The simulator's own details (a real robot has no such field)."""

    name: str
    version: str
    opentrons_version: str | None
    python_version: str | None
    max_protocols: int
    speed: float | None
    session_events: bool
    hardware: str | None = Field(None, description="the attached pipettes and modules")


class Health(BaseModel):
    name: str
    api_version: str = Field(description="the robot software version whose API this speaks")
    fw_version: str
    board_revision: str
    logs: list[str]
    system_version: str
    maximum_protocol_api_version: list[int]
    minimum_protocol_api_version: list[int]
    links: HealthLinks
    simulator: SimulatorInfo | None = Field(
        None, description="the simulator's details (absent on a robot, and in robot-like mode)"
    )


# -- /simulator/analysis-cache ----------------------------------------------------------------


class AnalysisCounters(BaseModel):
    """The simulator's analysis cache and worker counters (a real robot has no such route)."""

    entries: int = Field(description="analyses kept")
    bytes: int = Field(description="their pickled size")
    maxEntries: int = Field(description="the bound on entries (0: the cache is off)")
    maxBytes: int = Field(description="the bound on bytes")
    hits: int = Field(description="uploads answered from the cache")
    misses: int = Field(description="uploads analysed in a worker")
    evictions: int = Field(description="analyses dropped to stay within the bounds")
    workerJobs: int = Field(description="jobs handed to worker processes (analyses, sessions)")
    workersForked: int = Field(description="worker processes forked (spares included)")


class AnalysisCountersResponse(BaseModel):
    data: AnalysisCounters


# -- /settings ---------------------------------------------------------------------------------


class Setting(BaseModel):
    id: str
    old_id: str | None
    title: str
    description: str
    restart_required: bool
    value: bool | None


class SettingsLinks(BaseModel):
    restart: str | None = Field(None, description="present once a restart would apply a change")


class SettingsResponse(BaseModel):
    settings: list[Setting]
    links: SettingsLinks


# -- /protocols --------------------------------------------------------------------------------


class FileName(BaseModel):
    basename: str


class PipetteRequirement(BaseModel):
    mount: Literal["left", "right"]
    requestedAs: str
    pipetteName: str
    channels: int


class LabwareRequirement(BaseModel):
    label: str = Field(
        description="the label the protocol gave it (a JSON protocol's displayName), else "
        "its load name"
    )
    uri: str
    slot: int | None = Field(
        None, description="deck slot (as the 4.0 documentation shows; not in robot-like mode)"
    )
    location: int = Field(description="deck slot (as 4.7 sends it)")


class ModuleRequirement(BaseModel):
    type: str = Field(description="e.g. magneticModuleType")
    model: str = Field(description="e.g. magneticModuleV2")
    slot: int | None = None
    location: int


class RequiredEquipment(BaseModel):
    pipettes: list[PipetteRequirement]
    labware: list[LabwareRequirement]
    modules: list[ModuleRequirement]


class ProtocolMetadata(BaseModel):
    name: str | None
    author: str | None
    apiLevel: str | None
    description: str | None = None


class ProtocolResource(BaseModel):
    id: str
    protocolFile: FileName
    supportFiles: list[FileName]
    lastModifiedAt: str = Field(description=ISO)
    createdAt: str = Field(description=ISO)
    requiredEquipment: RequiredEquipment
    metadata: ProtocolMetadata
    errors: list[ProtocolError] = Field(description="at most one analysis error")
    estimatedDuration: float | None = Field(
        None, description="estimated robot time in seconds (the simulator's addition)"
    )


class ProtocolLinks(BaseModel):
    self: Link
    protocols: Link
    protocolById: Link


class ProtocolListLinks(BaseModel):
    self: Link
    protocolById: Link


class ProtocolResponse(BaseModel):
    data: ProtocolResource
    links: ProtocolLinks


class ProtocolListResponse(BaseModel):
    data: list[ProtocolResource]
    links: ProtocolListLinks


class ProtocolDeleteResponse(BaseModel):
    data: ProtocolResource
    links: ProtocolListLinks


# -- /sessions ---------------------------------------------------------------------------------


class StepPipette(BaseModel):
    mount: Literal["left", "right"] | None = None
    name: str | None = Field(None, description="e.g. p300_single_gen2")
    channels: int | None = Field(None, description="1 or 8")


class StepLocation(BaseModel):
    slot: int | None = Field(None, description="the deck slot (a module's, for labware on it)")
    labware: str | None = Field(None, description="its load name; null for a trash bin")
    well: str | None = Field(
        None, description="e.g. A1 (a multi-channel's back nozzle); null for a trash bin"
    )


class StepStructured(BaseModel):
    """The step as data, for deck playback (the simulator's addition; ot2_notebook.step_data)."""

    command: str = Field(description="e.g. ASPIRATE, as in the event name")
    pipette: StepPipette | None = None
    volume: float | None = Field(None, description="µL per channel")
    flowRate: float | None = Field(None, description="µL/s")
    location: StepLocation | None = Field(None, description="null: not in a well")
    seconds: float | None = Field(None, description="estimated robot time of this step alone")


class StepParams(BaseModel):
    text: str = Field(description="what the step does, as the robot words it")
    structured: StepStructured | None = None


class SessionEvent(BaseModel):
    source: Literal["sessionCommand", "protocol"]
    event: str = Field(description="e.g. protocol.startRun, command.ASPIRATE.start")
    timestamp: str = Field(description=ISO)
    commandId: str
    params: StepParams | None
    result: None = None


class SessionDetails(BaseModel):
    protocolId: str
    currentState: SessionState
    events: list[SessionEvent]
    errors: list[ProtocolError] | None = Field(
        None,
        description="a failed load or run's error (the simulator's addition; 4.7 hides it, "
        "and so does the robot-like mode)",
    )


class SessionCreateParams(BaseModel):
    protocolId: str


class SessionResource(BaseModel):
    id: str
    createdAt: str = Field(description=ISO)
    details: SessionDetails
    sessionType: Literal["protocol"]
    createParams: SessionCreateParams


class SessionLinks(BaseModel):
    self: MetaLink
    commandExecute: MetaLink
    sessions: MetaLink
    sessionById: MetaLink


class SessionDeleteLinks(BaseModel):
    self: MetaLink
    sessionById: MetaLink


class SessionResponse(BaseModel):
    data: SessionResource
    links: SessionLinks


class SessionListResponse(BaseModel):
    data: list[SessionResource]
    links: None = None


class SessionDeleteResponse(BaseModel):
    data: SessionResource
    links: SessionDeleteLinks


class CommandResource(BaseModel):
    id: str
    command: str
    data: dict[str, Any]
    status: Literal["executed"]
    createdAt: str = Field(description=ISO)
    startedAt: str = Field(description=ISO)
    completedAt: str = Field(description=ISO)
    result: None = None


class CommandResponse(BaseModel):
    data: CommandResource
    links: SessionLinks


# -- /pipettes, /modules (robot software 4.7's legacy models) ---------------------------------


class AttachedPipette(BaseModel):
    """The pipette (if any) on a mount; ``model``, ``name``, ``tip_length`` and ``id`` are
    null on an empty mount."""

    model: str | None = Field(description="e.g. p300_single_v2.1 (the full version)")
    name: str | None = Field(description="e.g. p300_single_gen2 (the model without version)")
    tip_length: float | None = Field(description="the attached tip's length, 0 without one")
    mount_axis: str = Field(description="the axis moving this mount up and down")
    plunger_axis: str = Field(description="the axis moving this pipette's plunger")
    id: str | None = Field(description="the pipette's serial number")


class PipettesByMount(BaseModel):
    left: AttachedPipette
    right: AttachedPipette


class ThermocyclerModuleLiveData(BaseModel):
    lid: str
    lidTarget: float | None
    lidTemp: float
    currentTemp: float
    targetTemp: float | None
    holdTime: float | None
    rampRate: float | None
    currentCycleIndex: int | None
    totalCycleCount: int | None
    currentStepIndex: int | None
    totalStepCount: int | None


class TemperatureModuleLiveData(BaseModel):
    currentTemp: float
    targetTemp: float | None


class MagneticModuleLiveData(BaseModel):
    engaged: bool
    height: float


class PhysicalPort(BaseModel):
    hub: int | None
    port: int | None


class AttachedModule(BaseModel):
    name: str = Field(description="magdeck, tempdeck or thermocycler (legacy; see moduleModel)")
    displayName: str
    moduleModel: str = Field(description="e.g. magneticModuleV2")
    port: str
    usbPort: PhysicalPort
    serial: str
    model: str = Field(description="the revision, e.g. mag_deck_v20 (legacy)")
    revision: str
    fwVersion: str
    hasAvailableUpdate: bool
    status: str
    data: ThermocyclerModuleLiveData | TemperatureModuleLiveData | MagneticModuleLiveData


class Modules(BaseModel):
    modules: list[AttachedModule]


# -- /simulator/requests (the simulator's own) -------------------------------------------------


class LoggedRequest(BaseModel):
    index: int
    time: float = Field(description="seconds since the epoch")
    method: str
    path: str
    status: int | None = Field(description="the answer's status (null while unanswered)")
    sessionId: str | None = None
    sessionState: str | None = Field(
        None, description="cancel and delete: the session's state when the request came"
    )
    wouldDeadlock: bool | None = Field(
        None, description="cancel and delete: whether a real robot-server 4.7 would hang"
    )
    refused: bool | None = None
    blockedFor: float | None = Field(None, description="seconds the robot was held")


class RequestLogResponse(BaseModel):
    requests: list[LoggedRequest]
    wouldDeadlock: list[LoggedRequest] = Field(
        description="the requests that would have deadlocked a real robot-server 4.7"
    )
