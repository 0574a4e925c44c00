"""``/runs``: create, list, get, update (dismiss), delete, actions, and the run's commands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ot2_notebook.simulator.v8 import models
from ot2_notebook.simulator.v8.models import error_responses
from ot2_notebook.simulator.v8.versioning import check_version

router = APIRouter(
    tags=["Run Management"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 422),
)

#: robot-server's default page lengths
COMMANDS_PAGE = 20
ERRORS_PAGE = 20


def _runs(request: Request):
    return request.app.state.robot.runs


@router.post(
    "/runs",
    summary="Create a run",
    description="A new current run of a protocol (`protocolId`), or without one (setup "
    "commands). Replaces a current run that is idle or has ended; the oldest of 20 runs goes.",
    status_code=201,
    response_model=models.RunBody,
    responses=error_responses(404, 409, 500, 503),
)
async def create_run(request: Request, body: models.RunCreateRequest | None = None) -> JSONResponse:
    data = body.data if body is not None else models.RunCreateData(protocolId=None)
    run = await run_in_threadpool(
        lambda: _runs(request).create(
            data.protocolId,
            labware_offsets=list(data.labwareOffsets),
            run_time_parameter_values=dict(data.runTimeParameterValues),
        )
    )
    return JSONResponse({"data": run}, status_code=201)


@router.get("/runs", summary="Get all runs", response_model=models.RunListBody)
async def get_runs(
    request: Request,
    pageLength: Annotated[int | None, Query(description="the newest N runs")] = None,
) -> JSONResponse:
    data, current = _runs(request).listing(pageLength)
    links = {"current": {"href": f"/runs/{current}"}} if current is not None else {}
    return JSONResponse(
        {"data": data, "links": links, "meta": {"cursor": 0, "totalLength": len(data)}}
    )


@router.get(
    "/runs/{runId}",
    summary="Get a run",
    response_model=models.RunBody,
    responses=error_responses(404),
)
async def get_run(runId: str, request: Request) -> JSONResponse:
    return JSONResponse({"data": _runs(request).get(runId)})


@router.patch(
    "/runs/{runId}",
    summary="Update a run",
    description='`{"data": {"current": false}}` dismisses the current run once it is idle or '
    "has ended.",
    response_model=models.RunBody,
    responses=error_responses(404, 409),
)
async def update_run(runId: str, request: Request, body: models.RunUpdateRequest) -> JSONResponse:
    run = await run_in_threadpool(_runs(request).update, runId, body.data.current)
    return JSONResponse({"data": run})


@router.delete(
    "/runs/{runId}",
    summary="Delete a run",
    response_model=models.EmptyBody,
    responses=error_responses(404, 409),
)
async def delete_run(runId: str, request: Request) -> JSONResponse:
    await run_in_threadpool(_runs(request).delete, runId)
    return JSONResponse({})


@router.post(
    "/runs/{runId}/actions",
    summary="Issue a control action to the run",
    description="`play` starts or resumes, `pause` pauses after the running command, `stop` "
    "stops, `resume-from-recovery` leaves error recovery.",
    status_code=201,
    response_model=models.RunActionBody,
    responses=error_responses(404, 409),
)
async def create_action(
    runId: str, request: Request, body: models.RunActionRequest
) -> JSONResponse:
    action = await run_in_threadpool(_runs(request).action, runId, body.data.actionType.value)
    return JSONResponse({"data": action}, status_code=201)


@router.post(
    "/runs/{runId}/commands",
    summary="Enqueue a command",
    description="A setup command (unless `intent` says otherwise). `waitUntilComplete=true` "
    "answers once it has succeeded or failed (or after `timeout` ms).",
    status_code=201,
    response_model=models.CommandBody,
    responses=error_responses(404, 409),
)
async def create_command(
    runId: str,
    request: Request,
    body: models.CommandCreateRequest,
    waitUntilComplete: bool = False,
    timeout: Annotated[int | None, Query(gt=0, description="ms")] = None,
    failedCommandId: str | None = None,
) -> JSONResponse:
    data = body.data.model_dump(exclude_none=True)
    command = await run_in_threadpool(
        lambda: _runs(request).add_command(
            runId,
            data,
            wait_until_complete=waitUntilComplete,
            timeout_ms=timeout,
            failed_command_id=failedCommandId,
        )
    )
    return JSONResponse({"data": command}, status_code=201)


@router.get(
    "/runs/{runId}/commands",
    summary="Get a list of all protocol commands in the run",
    description="Without `cursor`, the page ends at the current (or most recent) command.",
    response_model=models.CommandListBody,
    responses=error_responses(404),
)
async def get_commands(
    runId: str, request: Request, cursor: int | None = None, pageLength: int = COMMANDS_PAGE
) -> JSONResponse:
    return JSONResponse(_runs(request).commands(runId, cursor, pageLength))


@router.get(
    "/runs/{runId}/commandsAsPreSerializedList",
    summary="Get all commands of a completed run as a list of pre-serialized commands",
    response_model=models.PreSerializedCommandsBody,
    responses=error_responses(404, 503),
)
async def get_pre_serialized_commands(runId: str, request: Request) -> JSONResponse:
    return JSONResponse(_runs(request).pre_serialized_commands(runId))


@router.get(
    "/runs/{runId}/commands/{commandId}",
    summary="Get full details about a specific command in the run",
    response_model=models.CommandBody,
    responses=error_responses(404),
)
async def get_command(runId: str, commandId: str, request: Request) -> JSONResponse:
    return JSONResponse({"data": _runs(request).command(runId, commandId)})


@router.get(
    "/runs/{runId}/commandErrors",
    summary="Get a list of all command errors in the run",
    response_model=models.CommandErrorListBody,
    responses=error_responses(404, 409),
)
async def get_command_errors(
    runId: str, request: Request, cursor: int | None = None, pageLength: int = ERRORS_PAGE
) -> JSONResponse:
    return JSONResponse(_runs(request).command_errors(runId, cursor, pageLength))
