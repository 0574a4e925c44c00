"""``/protocols``: upload (multipart ``files``), list, get, delete, and analyses."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ot2_notebook.simulator.multipart import uploaded_file_name
from ot2_notebook.simulator.v8 import models
from ot2_notebook.simulator.v8.errors import InvalidRequest, analysis_not_found
from ot2_notebook.simulator.v8.models import error_responses
from ot2_notebook.simulator.v8.protocols import UploadedFile
from ot2_notebook.simulator.v8.versioning import check_version

router = APIRouter(
    tags=["Protocol Management"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 422),
)


def _json_form(text: str | None, field: str) -> dict[str, Any]:
    """A form field holding a JSON object (robot-server 8.1.0 answers 500 if it is not JSON)."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest.at(
            f"{field} must be a JSON object, e.g. '{{\"volume\": 20}}'; it is not JSON ({exc}).",
            pointer=f"/{field}",
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest.at(f"{field} must be a JSON object.", pointer=f"/{field}")
    return value


@router.post(
    "/protocols",
    summary="Upload a protocol",
    description=(
        "Multipart upload of one or more `files`: one protocol (Python or JSON), labware "
        "definitions (.json) and data files (.csv, .txt). Every .py file is a candidate main "
        "protocol, so Python helper modules cannot be uploaded beside it. The same files again "
        "answer 200 with the existing protocol. The analysis starts at once; follow "
        "`analysisSummaries`."
    ),
    status_code=201,
    response_model=models.ProtocolBody,
    responses={200: {"model": models.ProtocolBody}, **error_responses(413, 422, 503)},
)
async def create_protocol(
    request: Request,
    files: Annotated[list[UploadFile], File(description="The protocol's files")],
    key: Annotated[str | None, Form(description="A client's own key for the protocol")] = None,
    protocolKind: Annotated[models.ProtocolKind, Form()] = models.ProtocolKind.STANDARD,
    runTimeParameterValues: Annotated[str | None, Form(description="JSON object")] = None,
    runTimeParameterFiles: Annotated[str | None, Form(description="JSON object")] = None,
) -> JSONResponse:
    robot = request.app.state.robot
    values = _json_form(runTimeParameterValues, "runTimeParameterValues")
    _json_form(runTimeParameterFiles, "runTimeParameterFiles")
    limit = robot.protocols.limits.max_file_bytes
    uploads = [
        UploadedFile(name=uploaded_file_name(item.filename), content=await item.read(limit + 1))
        for item in files
    ]
    status, data = await run_in_threadpool(
        lambda: robot.protocols.upload(
            uploads, key=key, kind=protocolKind.value, run_time_parameter_values=values
        )
    )
    return JSONResponse({"data": data}, status_code=status)


@router.get("/protocols", summary="Get uploaded protocols", response_model=models.ProtocolListBody)
async def get_protocols(
    request: Request, protocolKind: models.ProtocolKind | None = None
) -> JSONResponse:
    manager = request.app.state.robot.protocols
    data = [
        manager.resource(p)
        for p in manager.stored()
        if protocolKind is None or p.kind == protocolKind.value
    ]
    return JSONResponse({"data": data, "meta": {"cursor": 0, "totalLength": len(data)}})


@router.get(
    "/protocols/ids",
    summary="[Internal] Get uploaded protocol IDs",
    response_model=models.ProtocolIdsBody,
)
async def get_protocol_ids(request: Request) -> JSONResponse:
    ids = [p.id for p in request.app.state.robot.protocols.stored()]
    return JSONResponse({"data": ids, "meta": {"cursor": 0, "totalLength": len(ids)}})


@router.get(
    "/protocols/{protocolId}",
    summary="Get an uploaded protocol",
    response_model=models.ProtocolBody,
    responses=error_responses(404),
)
async def get_protocol(protocolId: str, request: Request) -> JSONResponse:
    manager = request.app.state.robot.protocols
    stored = manager.get(protocolId)
    return JSONResponse({"data": manager.resource(stored), "links": manager.links(protocolId)})


@router.delete(
    "/protocols/{protocolId}",
    summary="Delete an uploaded protocol",
    response_model=models.EmptyBody,
    responses=error_responses(404, 409),
)
async def delete_protocol(protocolId: str, request: Request) -> JSONResponse:
    await run_in_threadpool(request.app.state.robot.protocols.delete, protocolId)
    return JSONResponse({})


@router.post(
    "/protocols/{protocolId}/analyses",
    summary="Analyze the protocol",
    description="A new analysis if `forceReAnalyze` or the run-time parameter values changed "
    "(201); otherwise the existing summaries (200).",
    status_code=201,
    response_model=models.AnalysisSummaryListBody,
    responses={200: {"model": models.AnalysisSummaryListBody}, **error_responses(404, 503)},
)
async def create_analysis(
    protocolId: str, request: Request, body: models.AnalysisRequest | None = None
) -> JSONResponse:
    manager = request.app.state.robot.protocols
    data = body.data if body is not None else models.AnalysisRequestData()
    status, summaries = await run_in_threadpool(
        lambda: manager.reanalyse(
            protocolId, force=data.forceReAnalyze, values=dict(data.runTimeParameterValues)
        )
    )
    return JSONResponse(
        {"data": summaries, "meta": {"cursor": 0, "totalLength": len(summaries)}},
        status_code=status,
    )


@router.get(
    "/protocols/{protocolId}/analyses",
    summary="Get a protocol's analyses",
    response_model=models.AnalysisListBody,
    responses=error_responses(404),
)
async def get_analyses(protocolId: str, request: Request) -> JSONResponse:
    robot = request.app.state.robot
    robot.protocols.get(protocolId, quoted=False)
    data = robot.analyses.resources(protocolId)
    return JSONResponse({"data": data, "meta": {"cursor": 0, "totalLength": len(data)}})


def _analysis(request: Request, protocol_id: str, analysis_id: str) -> Any:
    robot = request.app.state.robot
    robot.protocols.get(protocol_id, quoted=False)
    record = robot.analyses.get(analysis_id)
    if record is None or record.protocol_id != protocol_id:
        raise analysis_not_found(analysis_id)
    return record


@router.get(
    "/protocols/{protocolId}/analyses/{analysisId}",
    summary="Get one of a protocol's analyses",
    response_model=models.AnalysisBody,
    responses=error_responses(404),
)
async def get_analysis(protocolId: str, analysisId: str, request: Request) -> JSONResponse:
    return JSONResponse({"data": _analysis(request, protocolId, analysisId).resource()})


@router.get(
    "/protocols/{protocolId}/analyses/{analysisId}/asDocument",
    summary="[Experimental] Get one of a protocol's analyses as a raw document",
    description="The completed analysis, not wrapped in `data`; 404 while it is pending.",
    response_model=models.Analysis,
    responses=error_responses(404),
)
async def get_analysis_document(protocolId: str, analysisId: str, request: Request) -> Response:
    record = _analysis(request, protocolId, analysisId)
    if record.document is None:
        raise analysis_not_found(analysisId)
    return Response(json.dumps(record.resource()), media_type="application/json")
