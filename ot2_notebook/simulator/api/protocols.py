"""``/protocols``: upload (with support files), list, get, add or replace a file, delete.

Routes that touch files are plain ``def`` functions, which FastAPI runs in its thread pool:
writing, analysing and removing never happen on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, UploadFile

from ot2_notebook.simulator.api.dependencies import AnswerViews, Protocols, Uploads
from ot2_notebook.simulator.api.models import error_responses
from ot2_notebook.simulator.api.responses import (
    ProtocolDeleteResponse,
    ProtocolListResponse,
    ProtocolResponse,
)
from ot2_notebook.simulator.api.versioning import check_version
from ot2_notebook.simulator.multipart import uploaded_file_name
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


def _one(stored: StoredProtocol, answers: AnswerViews) -> dict[str, Any]:
    return {"data": answers.protocol(stored.to_json()), "links": _links(stored.id)}


def _read(upload: UploadFile, max_bytes: int) -> UploadedFile:
    # one byte past the bound: enough to know a file is too big without reading all of it
    name = uploaded_file_name(upload.filename)
    return UploadedFile(name=name, content=upload.file.read(max_bytes + 1))


@router.post(
    "/protocols",
    status_code=201,
    summary="Upload a protocol and its support files",
    description=(
        "Multipart upload: one `protocolFile` and any number of `supportFiles` (Python "
        "helpers, CSV/JSON data, labware definitions). The protocol is analysed before the "
        "answer; analysis errors are reported in `errors`, not as an HTTP failure."
    ),
    response_model=ProtocolResponse,
    response_model_exclude_unset=True,
)
def create_protocol(
    uploads: Uploads,
    answers: AnswerViews,
    protocolFile: Annotated[UploadFile, File(description="The protocol (.py)")],
    supportFiles: Annotated[list[UploadFile] | None, File(description="Support files")] = None,
) -> dict[str, Any]:
    limit = uploads.max_file_bytes
    protocol = _read(protocolFile, limit)
    support = [_read(item, limit) for item in supportFiles or []]
    return _one(uploads.create(protocol, support), answers)


@router.get(
    "/protocols",
    summary="List uploaded protocols",
    response_model=ProtocolListResponse,
    response_model_exclude_unset=True,
)
async def list_protocols(store: Protocols, answers: AnswerViews) -> dict[str, Any]:
    return {"data": [answers.protocol(p.to_json()) for p in store.list()], "links": LIST_LINKS}


@router.get(
    "/protocols/{protocolId}",
    summary="Get an uploaded protocol",
    response_model=ProtocolResponse,
    response_model_exclude_unset=True,
)
async def get_protocol(protocolId: str, store: Protocols, answers: AnswerViews) -> dict[str, Any]:
    return _one(store.get(protocolId), answers)


@router.patch(
    "/protocols/{protocolId}",
    summary="Add or replace one file of a protocol, then analyse it again",
    response_model=ProtocolResponse,
    response_model_exclude_unset=True,
)
def update_protocol(
    protocolId: str,
    uploads: Uploads,
    answers: AnswerViews,
    file: Annotated[UploadFile, File(description="A support file, or the protocol file itself")],
) -> dict[str, Any]:
    return _one(uploads.add_file(protocolId, _read(file, uploads.max_file_bytes)), answers)


@router.delete(
    "/protocols/{protocolId}",
    summary="Delete a protocol and its files",
    response_model=ProtocolDeleteResponse,
    response_model_exclude_unset=True,
)
async def delete_protocol(
    protocolId: str, store: Protocols, answers: AnswerViews
) -> dict[str, Any]:
    # async: the store only renames the folder (its files are removed on a thread of its own)
    return {"data": answers.protocol(store.delete(protocolId).to_json()), "links": LIST_LINKS}
