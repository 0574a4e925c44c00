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
