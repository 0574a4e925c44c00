"""The legacy routes a software-8 robot still has: ``/health``, ``/settings``, ``/sessions``.

Their successes carry the ``Opentrons-Version`` they were served with; ``/health`` and
``/settings`` answer validation errors as ``{"message", "errorCode"}`` (robot-server's legacy
routers). ``/sessions`` offers calibration sessions only: protocol sessions ended with 4.x.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ot2_notebook.simulator.v8.errors import ApiError
from ot2_notebook.simulator.v8.models import (
    ErrorBody,
    Health,
    SessionList,
    Settings,
    error_responses,
)
from ot2_notebook.simulator.v8.versioning import check_version

router = APIRouter(dependencies=[Depends(check_version)])

CalibrationSession = Literal[
    "calibrationCheck", "tipLengthCalibration", "deckCalibration", "pipetteOffsetCalibration"
]


class SettingChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    value: bool | None = None


class SessionCreateData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sessionType: CalibrationSession
    createParams: dict[str, Any] | None = None


class SessionCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: SessionCreateData


@router.get(
    "/health",
    summary="Get server health",
    tags=["Health"],
    response_model=Health,
    responses=error_responses(400, 422, legacy=True),
)
async def get_health(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.robot.health())


@router.get(
    "/settings",
    summary="Get settings",
    tags=["Settings"],
    response_model=Settings,
    responses=error_responses(400, 422, legacy=True),
)
async def get_settings(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.robot.settings.body())


@router.post(
    "/settings",
    summary="Change a setting",
    tags=["Settings"],
    response_model=Settings,
    responses=error_responses(400, 422, legacy=True),
)
async def change_setting(
    request: Request, change: Annotated[SettingChange, Body()]
) -> JSONResponse:
    settings = request.app.state.robot.settings
    if not settings.set(change.id, change.value):
        raise ApiError(
            400,
            "InvalidSetting",
            "Invalid Setting",
            f"{change.id} is not recognized; the settings are {', '.join(settings.ids())}.",
        )
    return JSONResponse(settings.body())


@router.get(
    "/sessions",
    summary="Get all OT-2 calibration sessions",
    tags=["Session Management"],
    response_model=SessionList,
    responses=error_responses(400, 422),
)
async def get_sessions() -> JSONResponse:
    return JSONResponse({"data": [], "links": None})


@router.post(
    "/sessions",
    summary="Create an OT-2 calibration session",
    description="Always refused: the simulated robot needs no calibration.",
    tags=["Session Management"],
    status_code=403,
    response_model=ErrorBody,
    responses=error_responses(400, 422),
)
async def create_session(body: SessionCreateRequest) -> JSONResponse:
    raise ApiError(
        403,
        "NotSimulated",
        "Not Simulated",
        f"The simulated robot has no {body.data.sessionType} sessions: it needs no calibration.",
    )
