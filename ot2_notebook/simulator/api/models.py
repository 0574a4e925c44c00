"""Request bodies, as pydantic models: they validate input and document the OpenAPI schema.

Unknown fields are ignored, as the real robot ignores them (recording 05: ``startRun``
with an extra field in its data is accepted).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ot2_notebook import session_states as states

CommandName = Literal[states.PROTOCOL_COMMANDS + states.OTHER_SESSION_COMMANDS]  # type: ignore[valid-type]
SessionTypeName = Literal[
    "calibrationCheck",
    "tipLengthCalibration",
    "deckCalibration",
    "pipetteOffsetCalibration",
    "protocol",
    "liveProtocol",
]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CommandData(_Lenient):
    command: CommandName = Field(description="The command to execute, e.g. 'protocol.startRun'")
    data: dict[str, Any] = Field(description="The command's parameters ({} for protocol commands)")


class CommandRequest(_Lenient):
    data: CommandData


class ProtocolCreateParams(_Lenient):
    protocolId: str = Field(description="The id of an uploaded protocol")


class SessionCreateData(_Lenient):
    sessionType: SessionTypeName
    createParams: ProtocolCreateParams | None = None


class SessionCreateRequest(_Lenient):
    data: SessionCreateData


class SettingChange(_Lenient):
    id: str = Field(description="A setting id from GET /settings")
    value: bool | None = Field(description="true, false, or null to restore the default")


class ErrorSource(BaseModel):
    pointer: str | None = Field(None, description="JSON pointer into the body")
    header: str | None = Field(None, description="the request header at fault")
    parameter: str | None = Field(None, description="the query or path parameter at fault")


class ErrorItem(BaseModel):
    id: str = Field(description="e.g. UncategorizedError, InvalidRequest, OutdatedAPIVersion")
    status: str = Field(description="the HTTP status, as robot software 4.0-4.3 sent it")
    title: str
    detail: str = Field(description="what happened and what to do")
    source: ErrorSource | None = None


class ErrorEnvelope(BaseModel):
    """Every error the robot answers (but legacy-route validation errors)."""

    errors: list[ErrorItem]
    links: dict[str, Any] | None = None


class LegacyValidationError(BaseModel):
    """How ``/health`` and ``/settings`` answer request validation errors (as 4.x does)."""

    message: str


_DESCRIPTIONS = {
    400: "Outdated Opentrons-Version, or a body that cannot be read",
    403: "Not allowed now (state, active session, upload limit, feature flag, duplicate id)",
    404: "No such protocol or session",
    405: "Method not allowed on this path",
    413: "Upload too large",
    422: "Invalid request (header, parameters or body)",
}


def error_responses(*codes: int, legacy: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a router: the robot's error envelope for each code."""
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[code]} for code in codes
    }
    if legacy and 422 in codes:
        responses[422] = {"model": LegacyValidationError, "description": _DESCRIPTIONS[422]}
    return responses
