"""``GET /simulator/analysis-cache``: the simulator's own counters (no real robot has them;
``simulator.py`` has the robot-like mode's request log).

How many uploads the analysis cache answered and how many jobs went to worker processes, so
a test or a user can see that an unchanged re-upload forked nothing (``analysis_cache.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ot2_notebook.simulator.api.dependencies import Robot
from ot2_notebook.simulator.api.models import error_responses
from ot2_notebook.simulator.api.responses import AnalysisCountersResponse
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    tags=["Simulator"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 422),
)


@router.get(
    "/simulator/analysis-cache",
    summary="Analysis cache and worker counters (the simulator's addition)",
    response_model=AnalysisCountersResponse,
)
async def get_analysis_counters(robot: Robot) -> dict[str, Any]:
    stats, jobs, forks = robot.analysis_counters()
    return {
        "data": {
            "entries": stats.entries,
            "bytes": stats.bytes,
            "maxEntries": stats.max_entries,
            "maxBytes": stats.max_bytes,
            "hits": stats.hits,
            "misses": stats.misses,
            "evictions": stats.evictions,
            "workerJobs": jobs,
            "workersForked": forks,
        }
    }
