"""``GET /health``: the robot's identity and versions (a legacy route: 4.x answers its
validation errors as ``{"message": ...}``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ot2_notebook.simulator.api.dependencies import AnswerViews, Robot
from ot2_notebook.simulator.api.models import error_responses
from ot2_notebook.simulator.api.responses import Health
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    tags=["Health"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 422, legacy=True),
)


@router.get(
    "/health",
    summary="Get robot health",
    response_model=Health,
    response_model_exclude_unset=True,
)
async def get_health(robot: Robot, answers: AnswerViews) -> dict[str, Any]:
    return answers.health(robot.health())
