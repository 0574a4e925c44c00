"""The exception handlers: every failure answered in the robot's JSON:API error envelope.

The errors themselves are in ``simulator/errors.py``; this module only translates them, and
FastAPI's and Starlette's own errors (validation, unknown route, wrong method, unreadable
body), into HTTP answers. The legacy routes (``/health``, ``/settings``) answer request
validation errors with ``{"message": "..."}``, as the real robot does (recording 02).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from ot2_notebook.simulator.errors import (
    InvalidRequest,
    PayloadTooLarge,
    RobotServerError,
    envelope,
)

LEGACY_PATHS = ("/health", "/settings", "/pipettes", "/modules")


def _pydantic_message(error: Mapping[str, Any]) -> str:
    """Pydantic 2's messages, phrased as the robot's pydantic 1 phrased them."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "field required"
    if kind in ("int_parsing", "int_type"):
        return "value is not a valid integer"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"unexpected value; permitted: {expected}"
    if kind == "json_invalid":
        return str(ctx.get("error") or "invalid JSON")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "value is not a valid dict"
    message = str(error.get("msg", "invalid value"))
    return message[:1].lower() + message[1:]


def _source(loc: Sequence[Any]) -> dict[str, str] | None:
    if not loc:
        return None
    where, *rest = loc
    if where == "header":
        return {"header": str(rest[0]).lower() if rest else ""}
    if where in ("query", "path"):
        return {"parameter": str(rest[0]) if rest else ""}
    if where == "body":
        parts = [str(p) for p in rest if not str(p).startswith("function-")]
        return {"pointer": "/" + "/".join(parts) if parts else "/"}
    return {"pointer": "/" + "/".join(str(p) for p in loc)}


def _is_legacy(request: Request) -> bool:
    return request.url.path in LEGACY_PATHS


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        return await unexpected_error_handler(request, exc)
    errors = list(exc.errors())
    if _is_legacy(request):
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"message": f"{where}: {_pydantic_message(first)}"}, status_code=422)
    problems = [(_pydantic_message(e), _source(e.get("loc", ()))) for e in errors]
    return JSONResponse(envelope(InvalidRequest(problems)), status_code=422)


async def robot_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RobotServerError):
        return await unexpected_error_handler(request, exc)
    return JSONResponse(envelope(exc), status_code=exc.status_code)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API accepts at this path (Starlette's 405 names only the first
    matching route's). Read from the OpenAPI document, the one public list of routes."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        regex, _format, _convertors = compile_path(template)
        if regex.match(request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, unreadable body) in the robot's
    envelope, each saying what to do instead."""
    if not isinstance(exc, StarletteHTTPException):
        return await unexpected_error_handler(request, exc)
    status = exc.status_code
    detail = str(exc.detail)
    headers = dict(exc.headers or {})
    if status == 404:
        detail = f"There is no {request.url.path} on this robot; /openapi.json lists the API."
    elif status == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = (
            f"{request.method} is not allowed on {request.url.path}; "
            f"use {' or '.join(allowed) or 'another path'}."
        )
    elif status == 400 and "multipart" in detail.lower():
        detail = (
            f"{detail.rstrip('.')}: the body could not be read as a file upload. Send "
            "multipart/form-data with a protocolFile field (requests: files=...; curl: -F)."
        )
    error = RobotServerError(detail)
    error.status_code = status
    error.title = {
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
    }.get(status, "Error")
    if status == 413:
        error.error_id = PayloadTooLarge.error_id
    return JSONResponse(envelope(error), status_code=status, headers=headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug in the simulator: still an envelope, and the message says where to report it."""
    error = RobotServerError(
        f"The simulated robot failed unexpectedly ({type(exc).__name__}: {exc}). "
        "This is a bug in ot2-sim; please report it with the request that caused it."
    )
    return JSONResponse(envelope(error), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(RobotServerError, robot_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
