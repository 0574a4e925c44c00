"""Error responses in the robot's JSON:API envelope, and the handlers that produce them.

Robot software 4.4-4.7 sends ``{"errors": [{"id", "title", "detail", "source"?}]}``; 4.0-4.3
sent ``status`` instead of ``id``. The simulator sends both so that clients written for
either work. The legacy routes (``/health``, ``/settings``) answer request validation
errors with ``{"message": "..."}``, as the real robot does (recording 02).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

UNCATEGORIZED = "UncategorizedError"
INVALID_REQUEST = "InvalidRequest"

LEGACY_PATHS = ("/health", "/settings")

SESSION_LINKS = {"self": {"href": "/sessions"}, "sessionById": {"href": "/sessions/{sessionId}"}}


class RobotServerError(Exception):
    """An error the robot reports to the client; rendered by ``robot_error_handler``."""

    status_code = 500
    title = "Internal Server Error"
    error_id = UNCATEGORIZED

    def __init__(
        self,
        detail: str,
        *,
        source: Mapping[str, str] | None = None,
        links: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.source = source
        self.links = links

    def items(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {
            "id": self.error_id,
            "status": str(self.status_code),
            "title": self.title,
            "detail": self.detail,
        }
        if self.source:
            item["source"] = dict(self.source)
        return [item]


class ResourceNotFound(RobotServerError):
    status_code = 404
    title = "Resource Not Found"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(
            f"Resource type '{resource}' with id '{resource_id}' was not found",
            links=SESSION_LINKS if resource == "session" else None,
        )


class ActionForbidden(RobotServerError):
    status_code = 403
    title = "Action Forbidden"


class ResourceExists(RobotServerError):
    status_code = 403
    title = "Resource Exists"


class PayloadTooLarge(RobotServerError):
    status_code = 413
    title = "Payload Too Large"
    error_id = "PayloadTooLarge"


class OutdatedAPIVersion(RobotServerError):
    status_code = 400
    title = "Requested HTTP API version no longer supported"
    error_id = "OutdatedAPIVersion"

    def __init__(self, requested: int, minimum: int) -> None:
        super().__init__(
            f"The requested API version '{requested}' is not supported. 'Opentrons-Version' "
            f"must be at least '{minimum}'. Please upgrade your Opentrons App or other HTTP "
            "API client."
        )


class InvalidRequest(RobotServerError):
    """422 with one item per problem, each pointing at where it is (``source``)."""

    status_code = 422
    title = "Invalid Request"
    error_id = INVALID_REQUEST

    def __init__(self, problems: Sequence[tuple[str, Mapping[str, str] | None]]) -> None:
        super().__init__(problems[0][0] if problems else "invalid request")
        self.problems = list(problems)

    @classmethod
    def at(cls, detail: str, **source: str) -> InvalidRequest:
        return cls([(detail, source or None)])

    def items(self) -> list[dict[str, Any]]:
        items = []
        for detail, source in self.problems:
            item: dict[str, Any] = {
                "id": self.error_id,
                "status": str(self.status_code),
                "title": self.title,
                "detail": detail,
            }
            if source:
                item["source"] = dict(source)
            items.append(item)
        return items


def envelope(error: RobotServerError) -> dict[str, Any]:
    body: dict[str, Any] = {"errors": error.items()}
    if error.links is not None:
        body["links"] = error.links
    return body


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
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if _is_legacy(request):
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"message": f"{where}: {_pydantic_message(first)}"}, status_code=422)
    problems = [(_pydantic_message(e), _source(e.get("loc", ()))) for e in errors]
    return JSONResponse(envelope(InvalidRequest(problems)), status_code=422)


async def robot_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RobotServerError)
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
    assert isinstance(exc, StarletteHTTPException)
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
