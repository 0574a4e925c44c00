"""``/protocols``: upload (with support files), list, get, add or replace a file, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ot2_notebook.simulator.api.errors import ResourceNotFound
from ot2_notebook.simulator.api.models import error_responses
from ot2_notebook.simulator.api.versioning import check_version
from ot2_notebook.simulator.protocol_store import StoredProtocol, UploadedFile

router = APIRouter(
    tags=["Protocol Management"],
    dependencies=[Depends(check_version)],
    responses=error_responses(400, 403, 404, 405, 413, 422),
)

LIST_LINKS = {"self": {"href": "/protocols"}, "protocolById": {"href": "/protocols/{protocolId}"}}


def _links(protocol_id: str) -> dict[str, Any]:
    return {
        "self": {"href": f"/protocols/{protocol_id}"},
        "protocols": {"href": "/protocols"},
        "protocolById": {"href": "/protocols/{protocolId}"},
    }


def _one(stored: StoredProtocol) -> dict[str, Any]:
    return {"data": stored.to_json(), "links": _links(stored.id)}


async def _read(upload: UploadFile, max_bytes: int) -> UploadedFile:
    # read one byte past the bound: enough to know it is too big without reading it all
    content = await upload.read(max_bytes + 1)
    return UploadedFile(name=upload.filename or "", content=content)


@router.post(
    "/protocols",
    status_code=201,
    summary="Upload a protocol and its support files",
    description=(
        "Multipart upload: one `protocolFile` and any number of `supportFiles` (Python "
        "helpers, CSV/JSON data, labware definitions). The protocol is analysed before the "
        "answer; analysis errors are reported in `errors`, not as an HTTP failure."
    ),
)
async def create_protocol(
    request: Request,
    protocolFile: Annotated[UploadFile, File(description="The protocol (.py)")],
    supportFiles: Annotated[list[UploadFile] | None, File(description="Support files")] = None,
) -> JSONResponse:
    robot = request.app.state.robot
    store = robot.protocols
    limit = store.limits.max_file_bytes
    protocol = await _read(protocolFile, limit)
    support = [await _read(item, limit) for item in supportFiles or []]
    protocol_id = store.check_upload(protocol, support)
    store.reserve(protocol_id)
    try:
        directory = await run_in_threadpool(store.write_files, protocol_id, [protocol, *support])
        analysis = await run_in_threadpool(robot.analyzer.analyse, directory, protocol.name)
    except BaseException:
        store.release(protocol_id)
        raise
    stored = store.publish(protocol_id, protocol.name, [s.name for s in support], analysis)
    return JSONResponse(_one(stored), status_code=201)


@router.get("/protocols", summary="List uploaded protocols")
async def list_protocols(request: Request) -> dict[str, Any]:
    stored = request.app.state.robot.protocols.list()
    return {"data": [p.to_json() for p in stored], "links": LIST_LINKS}


@router.get("/protocols/{protocolId}", summary="Get an uploaded protocol")
async def get_protocol(protocolId: str, request: Request) -> dict[str, Any]:
    return _one(request.app.state.robot.protocols.get(protocolId))


@router.patch(
    "/protocols/{protocolId}",
    summary="Add or replace one file of a protocol, then analyse it again",
)
async def update_protocol(
    protocolId: str,
    request: Request,
    file: Annotated[UploadFile, File(description="A support file, or the protocol file itself")],
) -> dict[str, Any]:
    robot = request.app.state.robot
    store = robot.protocols
    stored = store.begin_change(protocolId)
    try:
        upload = await _read(file, store.limits.max_file_bytes)
        try:
            changed = await run_in_threadpool(store.put_file, stored, upload)
        except FileNotFoundError:  # deleted while we were writing
            raise ResourceNotFound("protocol", protocolId) from None
        analysis = await run_in_threadpool(
            robot.analyzer.analyse, changed.directory, changed.protocol_file
        )
        updated = store.update(replace(changed, analysis=analysis))
    finally:
        store.end_change(protocolId)
    return _one(updated)


@router.delete("/protocols/{protocolId}", summary="Delete a protocol and its files")
async def delete_protocol(protocolId: str, request: Request) -> dict[str, Any]:
    stored = request.app.state.robot.protocols.delete(protocolId)
    return {"data": stored.to_json(), "links": LIST_LINKS}
