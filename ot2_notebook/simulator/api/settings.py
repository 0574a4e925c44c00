"""``GET/POST /settings``: advanced settings, among them the protocol-sessions feature flag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ot2_notebook.simulator.api.errors import InvalidRequest
from ot2_notebook.simulator.api.models import SettingChange, error_responses
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    tags=["Settings"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 422, legacy=True),
)


@router.get("/settings", summary="Get the advanced settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return request.app.state.robot.settings.to_json()


@router.post("/settings", summary="Change an advanced setting")
async def post_settings(change: SettingChange, request: Request) -> dict[str, Any]:
    robot = request.app.state.robot
    if not robot.settings.set(change.id, change.value):
        raise InvalidRequest.at(
            f"There is no setting '{change.id}'; GET /settings lists them.", pointer="/id"
        )
    robot.sessions.protocol_sessions_enabled = robot.settings.protocol_sessions_enabled
    return robot.settings.to_json()
