"""``/sessions``: protocol sessions and their commands (``startRun``, ``pause``, ...)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ot2_notebook.simulator.api.errors import SESSION_LINKS, ActionForbidden, InvalidRequest
from ot2_notebook.simulator.api.models import (
    CommandRequest,
    SessionCreateRequest,
    SessionTypeName,
    error_responses,
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


@router.post("/sessions", status_code=201, summary="Create a protocol session")
async def create_session(body: SessionCreateRequest, request: Request) -> JSONResponse:
    robot = request.app.state.robot
    data = body.data
    if data.sessionType != "protocol":
        raise ActionForbidden(
            f"Session type '{data.sessionType}' is not available on the simulated robot; "
            "it simulates protocol sessions only."
        )
    if not robot.sessions.protocol_sessions_enabled:
        raise ActionForbidden("HTTP Protocol Session feature is disabled")
    if data.createParams is None:
        raise InvalidRequest.at("field required", pointer="/data/createParams")
    protocol = robot.protocols.get(data.createParams.protocolId)
    session = robot.sessions.create(protocol)
    snapshot = robot.sessions.snapshot(session)
    return JSONResponse({"data": snapshot, "links": _links(session.id)}, status_code=201)


@router.get("/sessions", summary="List sessions")
async def list_sessions(
    request: Request,
    session_type: Annotated[SessionTypeName | None, Query(description="Only this type")] = None,
) -> dict[str, Any]:
    manager = request.app.state.robot.sessions
    sessions = [] if session_type not in (None, "protocol") else manager.list()
    return {"data": [manager.snapshot(s) for s in sessions], "links": None}


@router.get("/sessions/{sessionId}", summary="Get a session")
async def get_session(sessionId: str, request: Request) -> dict[str, Any]:
    manager = request.app.state.robot.sessions
    return {"data": manager.snapshot(manager.get(sessionId)), "links": _links(sessionId)}


@router.delete("/sessions/{sessionId}", summary="Delete a session (cancels its run)")
async def delete_session(sessionId: str, request: Request) -> dict[str, Any]:
    final = request.app.state.robot.sessions.delete(sessionId)
    return {"data": final, "links": _DELETE_LINKS}


@router.post(
    "/sessions/{sessionId}/commands/execute",
    summary="Execute a session command",
    description=(
        "Protocol sessions take `protocol.startRun`, `protocol.startSimulate`, "
        "`protocol.pause`, `protocol.resume` and `protocol.cancel`, each only in the states "
        "that allow it. The answer comes at once; the state changes in the background."
    ),
)
async def execute_command(sessionId: str, body: CommandRequest, request: Request) -> dict[str, Any]:
    manager = request.app.state.robot.sessions
    command = await run_in_threadpool(manager.execute, sessionId, body.data.command)
    return {"data": command, "links": _links(sessionId)}


__all__ = ["SESSION_LINKS", "router"]
