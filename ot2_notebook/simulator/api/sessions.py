"""``/sessions``: protocol sessions and their commands (``startRun``, ``pause``, ...).

Routes that copy or remove files, or wait for a simulation, are plain ``def`` functions,
which FastAPI runs in its thread pool, off the event loop. A cancel or delete goes through
the robot's ``Stops`` (at once; in robot-like mode as robot-server 4.7 serves it, which
blocks the server while it waits), whose work runs in the thread pool too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ot2_notebook import session_states as states
from ot2_notebook.simulator.api.dependencies import AnswerViews, Sessions, SessionStops
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
from ot2_notebook.simulator.robot_like import LOG_ENTRY

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
def create_session(
    body: SessionCreateRequest, sessions: Sessions, answers: AnswerViews
) -> dict[str, Any]:
    params = body.data.createParams
    session = sessions.create(body.data.sessionType, params.protocolId if params else None)
    return {"data": answers.session(session), "links": _links(session["id"])}


@router.get(
    "/sessions",
    summary="List sessions",
    response_model=SessionListResponse,
    response_model_exclude_unset=True,
)
async def list_sessions(
    sessions: Sessions,
    answers: AnswerViews,
    session_type: Annotated[SessionTypeName | None, Query(description="Only this type")] = None,
) -> dict[str, Any]:
    return {"data": [answers.session(s) for s in sessions.snapshots(session_type)], "links": None}


@router.get(
    "/sessions/{sessionId}",
    summary="Get a session",
    response_model=SessionResponse,
    response_model_exclude_unset=True,
)
async def get_session(sessionId: str, sessions: Sessions, answers: AnswerViews) -> dict[str, Any]:
    return {"data": answers.session(sessions.snapshot(sessionId)), "links": _links(sessionId)}


@router.delete(
    "/sessions/{sessionId}",
    summary="Delete a session (cancels its run)",
    response_model=SessionDeleteResponse,
    response_model_exclude_unset=True,
)
async def delete_session(
    sessionId: str, request: Request, sessions: Sessions, stops: SessionStops, answers: AnswerViews
) -> dict[str, Any]:
    final = await stops.stop(
        request.scope.get(LOG_ENTRY),
        "DELETE /sessions/{id}",
        sessionId,
        sessions.state_of(sessionId),
        lambda: sessions.delete(sessionId),
    )
    return {"data": answers.session(final), "links": _DELETE_LINKS}


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
async def execute_command(
    sessionId: str, body: CommandRequest, request: Request, sessions: Sessions, stops: SessionStops
) -> dict[str, Any]:
    name = body.data.command
    if name == states.CANCEL:
        command = await stops.stop(
            request.scope.get(LOG_ENTRY),
            "protocol.cancel",
            sessionId,
            sessions.state_of(sessionId),
            lambda: sessions.execute(sessionId, name),
        )
    else:
        command = await run_in_threadpool(sessions.execute, sessionId, name)
    return {"data": command, "links": _links(sessionId)}
