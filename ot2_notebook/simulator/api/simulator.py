"""``/simulator/...``: the simulator's own routes (no robot has them).

``GET /simulator/requests`` (robot-like mode only): every request served, with the session
state of each cancel and delete and whether it would have deadlocked a real robot-server 4.7
(tests assert that a client never sends one). Needs no ``Opentrons-Version`` header, and is
never held while a robot-like stop blocks the robot's own routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ot2_notebook.simulator.api.dependencies import Log
from ot2_notebook.simulator.api.responses import RequestLogResponse

router = APIRouter(tags=["Simulator (not on a robot)"])


@router.get(
    "/simulator/requests",
    summary="The requests served (robot-like mode)",
    response_model=RequestLogResponse,
    response_model_exclude_unset=True,
)
async def get_requests(log: Log) -> dict[str, Any]:
    entries = log.entries() if log is not None else []
    return {
        "requests": entries,
        "wouldDeadlock": [e for e in entries if e.get("wouldDeadlock")],
    }
