"""``/sessions``: protocol sessions and their commands (``startRun``, ``pause``, ...).

Routes that copy or remove files, or wait for a simulation, are plain ``def`` functions,
which FastAPI runs in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ot2_notebook.simulator.api.dependencies import Sessions
from ot2_notebook.simulator.api.models import (
    CommandRequest,
    SessionCreateRequest,
    SessionTypeName,
    error_responses,
)
from ot2_notebook.simulator.api.responses import (
    CommandResponse,
    SessionDeleteResponse,
    SessionListResponse,
    SessionResponse,
)
from ot2_notebook.simulator.api.versioning import check_version

router = APIRouter(
    tags=["Session Management"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 404, 405, 422),
)


def _links(session_id: str) -> dict[str, Any]:
    return {
        "self": {"href": f"/sessions/{session_id}", "meta": None},
        "commandExecute": {"href": f"/sessions/{session_id}/commands/execute", "meta": None},
        "sessions": {"href": "/sessions", "meta": None},
        "sessionById": {"href": "/sessions/{sessionId}", "meta": None},
    }


_DELETE_LINKS = {
    "self": {"href": "/sessions", "meta": None},
    "sessionById": {"href": "/sessions/{sessionId}", "meta": None},
}


@router.post(
    "/sessions",
    status_code=201,
    summary="Create a protocol session",
    response_model=SessionResponse,
    response_model_exclude_unset=True,
)
def create_session(body: SessionCreateRequest, sessions: Sessions) -> dict[str, Any]:
    params = body.data.createParams
    session = sessions.create(body.data.sessionType, params.protocolId if params else None)
    return {"data": session, "links": _links(session["id"])}


@router.get(
    "/sessions",
    summary="List sessions",
    response_model=SessionListResponse,
    response_model_exclude_unset=True,
)
async def list_sessions(
    sessions: Sessions,
    session_type: Annotated[SessionTypeName | None, Query(description="Only this type")] = None,
) -> dict[str, Any]:
    return {"data": sessions.snapshots(session_type), "links": None}


@router.get(
    "/sessions/{sessionId}",
    summary="Get a session",
    response_model=SessionResponse,
    response_model_exclude_unset=True,
)
async def get_session(sessionId: str, sessions: Sessions) -> dict[str, Any]:
    return {"data": sessions.snapshot(sessionId), "links": _links(sessionId)}


@router.delete(
    "/sessions/{sessionId}",
    summary="Delete a session (cancels its run)",
    response_model=SessionDeleteResponse,
    response_model_exclude_unset=True,
)
def delete_session(sessionId: str, sessions: Sessions) -> dict[str, Any]:
    return {"data": sessions.delete(sessionId), "links": _DELETE_LINKS}


@router.post(
    "/sessions/{sessionId}/commands/execute",
    summary="Execute a session command",
    description=(
        "Protocol sessions take `protocol.startRun`, `protocol.startSimulate`, "
        "`protocol.pause`, `protocol.resume` and `protocol.cancel`, each only in the states "
        "that allow it. The answer comes at once; the state changes in the background."
    ),
    response_model=CommandResponse,
    response_model_exclude_unset=True,
)
def execute_command(sessionId: str, body: CommandRequest, sessions: Sessions) -> dict[str, Any]:
    command = sessions.execute(sessionId, body.data.command)
    return {"data": command, "links": _links(sessionId)}
