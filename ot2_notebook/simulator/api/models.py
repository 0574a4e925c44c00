"""Request bodies and the error envelope, as pydantic models: they validate input and document
the OpenAPI schema (the success answers are in ``responses.py``).

Unknown fields are ignored, as the real robot ignores them (recording 05: ``startRun``
with an extra field in its data is accepted): that is pydantic's default, in version 1
(which opentrons 8.0-8.1 pin) as in 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ot2_notebook import session_states as states

if TYPE_CHECKING:
    CommandName = str
else:  # the names come from the shared state table, so the type checker sees only a str
    CommandName = Literal[states.PROTOCOL_COMMANDS + states.OTHER_SESSION_COMMANDS]
SessionTypeName = Literal[
    "calibrationCheck",
    "tipLengthCalibration",
    "deckCalibration",
    "pipetteOffsetCalibration",
    "protocol",
    "liveProtocol",
]


class CommandData(BaseModel):
    command: CommandName = Field(description="The command to execute, e.g. 'protocol.startRun'")
    data: dict[str, Any] = Field(description="The command's parameters ({} for protocol commands)")


class CommandRequest(BaseModel):
    data: CommandData


class ProtocolCreateParams(BaseModel):
    protocolId: str = Field(description="The id of an uploaded protocol")


class SessionCreateData(BaseModel):
    sessionType: SessionTypeName
    createParams: ProtocolCreateParams | None = None


class SessionCreateRequest(BaseModel):
    data: SessionCreateData


class SettingChange(BaseModel):
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
    403: "Not allowed now (state, active session, upload limit, feature flag, duplicate id), "
    "or a request from another machine's name or another site's page (Host, Origin)",
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
        # a malformed request gets the legacy body; a well-formed but wrong one the envelope
        responses[422] = {
            "model": LegacyValidationError | ErrorEnvelope,
            "description": _DESCRIPTIONS[422],
        }
    return responses
