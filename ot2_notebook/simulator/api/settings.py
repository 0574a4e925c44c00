"""``GET/POST /settings``: advanced settings, among them the protocol-sessions feature flag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ot2_notebook.simulator.api.dependencies import Settings
from ot2_notebook.simulator.api.models import SettingChange, error_responses
from ot2_notebook.simulator.api.responses import SettingsResponse
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    tags=["Settings"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 422, legacy=True),
)


@router.get(
    "/settings",
    summary="Get the advanced settings",
    response_model=SettingsResponse,
    response_model_exclude_unset=True,
)
async def get_settings(settings: Settings) -> dict[str, Any]:
    return settings.to_json()


@router.post(
    "/settings",
    summary="Change an advanced setting",
    response_model=SettingsResponse,
    response_model_exclude_unset=True,
)
async def post_settings(change: SettingChange, settings: Settings) -> dict[str, Any]:
    settings.set(change.id, change.value)
    return settings.to_json()
