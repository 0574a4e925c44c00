"""Request and response models of the software-8 robot, as robot-server 8.1.0 shapes them.

They validate requests and describe every answer in ``/openapi.json``. The engine's own
objects (commands, labware, pipettes, error occurrences...) come from the worker as plain
JSON and are described here by their common fields; their remaining fields are opentrons'
own (``extra="allow"``).
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A model of opentrons data: the fields named here, and whatever else opentrons sends."""

    model_config = ConfigDict(extra="allow")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- shared --------------------------------------------------------------------------------------


class MultiBodyMeta(BaseModel):
    cursor: int = Field(description="The index of the first item in `data`")
    totalLength: int = Field(description="How many items there are in all")


class ResourceLink(BaseModel):
    href: str


class ErrorSource(BaseModel):
    pointer: str | None = Field(None, description="JSON pointer into the body")
    parameter: str | None = Field(None, description="the query or path parameter at fault")
    header: str | None = Field(None, description="the request header at fault")


class ErrorItem(BaseModel):
    id: str = Field(description="e.g. InvalidRequest, ProtocolNotFound, RunActionNotAllowed")
    title: str
    detail: str = Field(description="what happened")
    source: ErrorSource | None = None
    meta: dict[str, Any] | None = Field(None, description="the opentrons error behind it")
    errorCode: str = Field(description='"4000" general, "4001" robot in use, "3000" robotics')


class ErrorBody(BaseModel):
    """Every error answer (but validation errors of the legacy routes)."""

    errors: list[ErrorItem]


class LegacyErrorBody(BaseModel):
    """Validation errors of ``/health`` and ``/settings``."""

    message: str
    errorCode: str


class EmptyBody(BaseModel):
    """``{}``: what deleting a protocol or a run answers."""


class ErrorOccurrence(_Open):
    id: str
    createdAt: str
    isDefined: bool
    errorType: str
    errorCode: str
    detail: str
    errorInfo: dict[str, Any] = {}
    wrappedErrors: list[ErrorOccurrence] = []


# -- health, settings, sessions ----------------------------------------------------------------


class HealthLinks(BaseModel):
    apiLog: str
    serialLog: str
    serverLog: str
    apiSpec: str
    systemTime: str


class MqttBroker(BaseModel):
    host: str
    port: int
    started_by_simulator: bool = Field(description="ot2-sim started this broker itself")


class SimulatorInfo(BaseModel):
    """The simulator's own details (real robots do not send this object)."""

    name: str
    version: str
    robot_software: int
    opentrons_version: str | None
    python_version: str | None
    speed: float | None
    mqtt: MqttBroker | None = Field(
        description="where the robot publishes its MQTT notifications; null: no broker "
        "(clients poll). Real robots use 127.0.0.1:1883 on the robot itself."
    )


class Health(BaseModel):
    name: str
    robot_model: str
    api_version: str
    fw_version: str
    board_revision: str
    logs: list[str]
    system_version: str
    maximum_protocol_api_version: list[int]
    minimum_protocol_api_version: list[int]
    robot_serial: str
    links: HealthLinks
    simulator: SimulatorInfo


class Setting(BaseModel):
    id: str
    old_id: str | None
    title: str
    description: str
    restart_required: bool
    value: bool | None


class Settings(BaseModel):
    settings: list[Setting]
    links: dict[str, Any]


class SessionList(BaseModel):
    """``GET /sessions``: calibration sessions only (protocol sessions ended with 4.x)."""

    data: list[dict[str, Any]]
    links: dict[str, Any] | None


# -- protocols and analyses ----------------------------------------------------------------------


class ProtocolKind(str, enum.Enum):
    STANDARD = "standard"
    QUICK_TRANSFER = "quick-transfer"


class ProtocolFile(BaseModel):
    name: str
    role: Literal["main", "labware", "data"]


class AnalysisSummary(BaseModel):
    id: str
    status: Literal["pending", "completed"]
    runTimeParameters: list[dict[str, Any]] | None = Field(
        None, description="sent only for an analysis this request started"
    )


class Protocol(BaseModel):
    id: str
    createdAt: str
    files: list[ProtocolFile]
    protocolType: Literal["python", "json"]
    robotType: str
    metadata: dict[str, Any]
    analyses: list[Any] = Field(description="always empty (deprecated by robot-server)")
    analysisSummaries: list[AnalysisSummary]
    key: str | None = None
    protocolKind: ProtocolKind


class RunLink(BaseModel):
    id: str
    href: str


class ProtocolLinks(BaseModel):
    referencingRuns: list[RunLink]


class ProtocolBody(BaseModel):
    data: Protocol
    links: ProtocolLinks | None = None


class ProtocolListBody(BaseModel):
    data: list[Protocol]
    meta: MultiBodyMeta


class ProtocolIdsBody(BaseModel):
    data: list[str]
    meta: MultiBodyMeta


class Analysis(_Open):
    """A pending analysis has only ``id`` and ``status``."""

    id: str
    status: Literal["pending", "completed"]
    result: Literal["ok", "not-ok", "parameter-value-required"] | None = None
    robotType: str | None = None
    runTimeParameters: list[dict[str, Any]] | None = None
    commands: list[dict[str, Any]] | None = None
    labware: list[dict[str, Any]] | None = None
    pipettes: list[dict[str, Any]] | None = None
    modules: list[dict[str, Any]] | None = None
    liquids: list[dict[str, Any]] | None = None
    errors: list[ErrorOccurrence] | None = None


class AnalysisBody(BaseModel):
    data: Analysis


class AnalysisListBody(BaseModel):
    data: list[Analysis]
    meta: MultiBodyMeta


class AnalysisSummaryListBody(BaseModel):
    data: list[AnalysisSummary]
    meta: MultiBodyMeta


class AnalysisRequestData(_Lenient):
    forceReAnalyze: bool = False
    runTimeParameterValues: dict[str, Any] = {}
    runTimeParameterFiles: dict[str, str] = {}


class AnalysisRequest(_Lenient):
    data: AnalysisRequestData


# -- runs ----------------------------------------------------------------------------------------


class RunStatus(str, enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    BLOCKED_BY_OPEN_DOOR = "blocked-by-open-door"
    STOP_REQUESTED = "stop-requested"
    STOPPED = "stopped"
    FINISHING = "finishing"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    AWAITING_RECOVERY = "awaiting-recovery"
    AWAITING_RECOVERY_BLOCKED_BY_OPEN_DOOR = "awaiting-recovery-blocked-by-open-door"
    AWAITING_RECOVERY_PAUSED = "awaiting-recovery-paused"


class ActionType(str, enum.Enum):
    PLAY = "play"
    PAUSE = "pause"
    STOP = "stop"
    RESUME_FROM_RECOVERY = "resume-from-recovery"


class RunAction(BaseModel):
    id: str
    createdAt: str
    actionType: ActionType


class Run(BaseModel):
    id: str
    ok: bool
    createdAt: str
    status: RunStatus
    current: bool
    actions: list[RunAction]
    errors: list[ErrorOccurrence]
    hasEverEnteredErrorRecovery: bool
    pipettes: list[dict[str, Any]]
    modules: list[dict[str, Any]]
    labware: list[dict[str, Any]]
    liquids: list[dict[str, Any]]
    labwareOffsets: list[dict[str, Any]]
    runTimeParameters: list[dict[str, Any]]
    protocolId: str | None = None
    startedAt: str | None = None
    completedAt: str | None = None


class RunBody(BaseModel):
    data: Run


class AllRunsLinks(BaseModel):
    current: ResourceLink | None = Field(None, description="the current run, if there is one")


class RunListBody(BaseModel):
    data: list[Run]
    links: AllRunsLinks
    meta: MultiBodyMeta


class RunActionBody(BaseModel):
    data: RunAction


class RunCreateData(_Lenient):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    protocolId: str | None = Field(None, description="the protocol to run; none: a setup run")
    labwareOffsets: list[dict[str, Any]] = []
    runTimeParameterValues: dict[str, Any] = {}
    runTimeParameterFiles: dict[str, str] = {}


class RunCreateRequest(_Lenient):
    data: RunCreateData


class RunUpdateData(_Lenient):
    current: bool | None = None


class RunUpdateRequest(_Lenient):
    data: RunUpdateData


class RunActionData(_Lenient):
    actionType: ActionType


class RunActionRequest(_Lenient):
    data: RunActionData


# -- commands ------------------------------------------------------------------------------------


class CommandCreateData(_Open):
    """A protocol engine command: ``commandType``, ``params`` and opentrons' other fields."""

    commandType: str
    params: dict[str, Any] = {}
    intent: Literal["protocol", "setup", "fixit"] | None = None
    key: str | None = None


class CommandCreateRequest(_Lenient):
    data: CommandCreateData


class CommandSummary(_Open):
    id: str
    key: str
    commandType: str
    createdAt: str
    startedAt: str | None = None
    completedAt: str | None = None
    status: Literal["queued", "running", "succeeded", "failed"]
    params: dict[str, Any]
    intent: Literal["protocol", "setup", "fixit"] | None = None
    error: ErrorOccurrence | None = None
    notes: list[dict[str, Any]] | None = None
    failedCommandId: str | None = None


class Command(CommandSummary):
    result: dict[str, Any] | None = None


class CommandLinkMeta(BaseModel):
    runId: str
    commandId: str
    index: int
    key: str
    createdAt: str


class CommandLink(BaseModel):
    href: str
    meta: CommandLinkMeta


class CommandCollectionLinks(BaseModel):
    current: CommandLink | None = None
    currentlyRecoveringFrom: CommandLink | None = None


class CommandListBody(BaseModel):
    data: list[CommandSummary]
    links: CommandCollectionLinks
    meta: MultiBodyMeta


class CommandBody(BaseModel):
    data: Command


class PreSerializedCommandsBody(BaseModel):
    data: list[str] = Field(description="every command of the run, each a JSON document")
    meta: MultiBodyMeta


class CommandErrorListBody(BaseModel):
    data: list[ErrorOccurrence]
    meta: MultiBodyMeta


def error_responses(*codes: int, legacy: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes: the envelope (legacy validation: ``message``)."""
    descriptions = {
        400: "Outdated Opentrons-Version, or a command not allowed now",
        403: "Not simulated",
        404: "No such protocol, analysis, run or command",
        409: "Not allowed in the run's current state",
        413: "Upload too large",
        422: "Invalid request (header, parameters, body, or protocol files)",
        500: "The simulator failed (its log says why)",
        503: "Not available yet (an analysis or run still in progress)",
    }
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": descriptions[code]} for code in codes
    }
    if legacy and 422 in codes:
        responses[422] = {"model": LegacyErrorBody, "description": descriptions[422]}
    return responses
