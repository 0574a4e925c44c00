"""Errors of the software-8 robot in robot-server 8.1.0's envelope, and their handlers.

Every failure is ``{"errors": [{"id", "title", "detail"[, "source"][, "meta"], "errorCode"}]}``
(``errorCode`` a string: "4000" in general, "4001" robot in use, "3000" robotics
interaction); request validation gives one item per problem with ``source.pointer``,
``source.parameter`` or ``source.header``. The legacy routes (``/health``, ``/settings``)
answer validation errors as ``{"message", "errorCode"}``. Pydantic 2's messages are worded
as robot-server's pydantic 1 worded them, since clients match on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

GENERAL = "4000"
ROBOT_IN_USE = "4001"
ROBOTICS_INTERACTION = "3000"

#: Routes that answer validation errors as ``{"message": ...}`` (robot-server's legacy routers).
LEGACY_PATHS = ("/health", "/settings", "/pipettes")


class ApiError(Exception):
    """An error answer: rendered by ``api_error_handler``."""

    def __init__(
        self,
        status: int,
        error_id: str,
        title: str,
        detail: str,
        *,
        error_code: str = GENERAL,
        source: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error_id = error_id
        self.title = title
        self.detail = detail
        self.error_code = error_code
        self.source = dict(source) if source else None
        self.meta = dict(meta) if meta else None

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.error_id, "title": self.title, "detail": self.detail}
        if self.source:
            item["source"] = self.source
        if self.meta is not None:
            item["meta"] = self.meta
        item["errorCode"] = self.error_code
        return item

    def body(self) -> dict[str, Any]:
        return {"errors": [self.item()]}


class InvalidRequest(ApiError):
    """422 with one item per problem."""

    def __init__(self, problems: Sequence[tuple[str, Mapping[str, str] | None]]) -> None:
        first = problems[0][0] if problems else "invalid request"
        super().__init__(422, "InvalidRequest", "Invalid Request", first)
        self.problems = list(problems)

    @classmethod
    def at(cls, detail: str, **source: str) -> InvalidRequest:
        return cls([(detail, source or None)])

    def body(self) -> dict[str, Any]:
        items = []
        for detail, source in self.problems:
            item: dict[str, Any] = {"id": self.error_id, "title": self.title, "detail": detail}
            if source:
                item["source"] = dict(source)
            item["errorCode"] = self.error_code
            items.append(item)
        return {"errors": items}


def wrapped_meta(outer_type: str, code: str, message: str, inner: Mapping[str, Any]) -> dict:
    """``meta`` of an error wrapping an opentrons error (robot-server's ``from_exc``)."""
    return {"type": outer_type, "code": code, "message": message, "detail": {}, "wrapping": [inner]}


# -- the robot's errors, by resource -----------------------------------------------------------


def protocol_not_found(protocol_id: str, quoted: bool = True) -> ApiError:
    # robot-server quotes the message of its KeyError-based ProtocolNotFoundError
    detail = (
        f"'Protocol {protocol_id} was not found.'"
        if quoted
        else f"Protocol {protocol_id} not found"
    )
    return ApiError(404, "ProtocolNotFound", "Protocol Not Found", detail)


def analysis_not_found(analysis_id: str) -> ApiError:
    return ApiError(
        404,
        "AnalysisNotFound",
        "Protocol Analysis Not Found",
        f'Analysis "{analysis_id}" not found.',
    )


def run_not_found(run_id: str, style: str = "get") -> ApiError:
    if style == "get":
        detail = f"Error 4000 GENERAL_ERROR (RunNotFoundError): Run {run_id} was not found."
        return ApiError(404, "RunNotFound", "Run Not Found", detail)
    if style == "action":
        return ApiError(404, "RunNotFound", "Run Not Found", f"Run {run_id} not found.")
    message = f"Run {run_id} was not found."
    meta = {
        "type": "RunNotFoundError",
        "code": GENERAL,
        "message": message,
        "detail": {"runId": run_id},
        "wrapping": [],
    }
    return ApiError(404, "RunNotFound", "Run Not Found", message, meta=meta)


def run_stopped(detail: str, meta: Mapping[str, Any] | None = None) -> ApiError:
    return ApiError(409, "RunStopped", "Run Stopped", detail, meta=meta)


def run_not_idle(detail: str | None = None) -> ApiError:
    return ApiError(
        409,
        "RunNotIdle",
        "Run is not idle.",
        detail
        or (
            "Run is currently active. Allow the run to finish or stop it with a `stop` "
            "action before attempting to modify it."
        ),
        error_code=ROBOT_IN_USE,
    )


def run_already_active(detail: str) -> ApiError:
    return ApiError(409, "RunAlreadyActive", "Run Already Active", detail, error_code=ROBOT_IN_USE)


def action_not_allowed(message: str, engine_error: Mapping[str, Any]) -> ApiError:
    return ApiError(
        409,
        "RunActionNotAllowed",
        "Run Action Not Allowed",
        message,
        error_code=ROBOTICS_INTERACTION,
        meta=wrapped_meta("RunActionNotAllowedError", ROBOTICS_INTERACTION, message, engine_error),
    )


def command_not_found(command_id: str) -> ApiError:
    # robot-server 8.1.0 answers 500 UnexpectedError here (a defect): a 404 is what it means
    return ApiError(
        404,
        "CommandNotFound",
        "Run Command Not Found",
        f"Command {command_id} does not exist",
        meta={
            "type": "CommandDoesNotExistError",
            "code": GENERAL,
            "message": f"Command {command_id} does not exist",
            "detail": {},
            "wrapping": [],
        },
    )


# -- pydantic 2's validation errors in robot-server's words -------------------------------------


def pydantic_message(error: Mapping[str, Any]) -> str:
    """One pydantic 2 error as robot-server's pydantic 1 phrased it."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if "." in kind:  # already pydantic 1 (a worker on opentrons 8.0/8.1)
        return str(error.get("msg", ""))
    if kind == "missing":
        return "field required"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "value is not a valid integer"
    if kind in ("bool_parsing", "bool_type"):
        return "value could not be parsed to a boolean"
    if kind == "literal_error":
        return "unexpected value; permitted: " + _expected(ctx)
    if kind == "enum":
        return "value is not a valid enumeration member; permitted: " + _expected(ctx)
    if kind == "json_invalid":
        return str(ctx.get("error") or "invalid JSON")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "value is not a valid dict"
    if kind == "string_type":
        return "str type expected"
    if kind == "list_type":
        return "value is not a valid list"
    if kind == "union_tag_invalid":
        return (
            f"No match for discriminator {ctx.get('discriminator')} and value "
            f"{ctx.get('tag')!r} (allowed values: {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found":
        return f"Discriminator {ctx.get('discriminator')} is missing in value"
    message = str(error.get("msg", "invalid value"))
    return message[:1].lower() + message[1:]


def _expected(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace(" or ", ", ")


def _is_union_member(part: Any) -> bool:
    text = str(part)
    return text.startswith(("literal[", "function-")) or text in ("int", "str", "bool")


def source_of(loc: Sequence[Any]) -> dict[str, str] | None:
    """Where a problem is: ``{"header"|"parameter"|"pointer": ...}`` from pydantic's ``loc``."""
    if not loc:
        return None
    where, *rest = loc
    rest = [part for part in rest if not _is_union_member(part)]
    if where == "header":
        return {"header": str(rest[0]).lower() if rest else ""}
    if where in ("query", "path"):
        return {"parameter": str(rest[0]) if rest else ""}
    if where == "body":
        return {"pointer": "/" + "/".join(str(p) for p in rest)}
    return {"pointer": "/" + "/".join(str(p) for p in loc)}


def validation_problems(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[Any] = ()
) -> list[tuple[str, dict[str, str] | None]]:
    return [(pydantic_message(e), source_of([*prefix, *list(e.get("loc", ()))])) for e in errors]


def _legacy_message(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if not _is_union_member(p)]
        parts.append(f"{'.'.join(loc)}: {pydantic_message(error)}")
    return "; ".join(parts)


# -- handlers ----------------------------------------------------------------------------------


async def _json_problem(request: Request, error: Mapping[str, Any]) -> dict[str, Any]:
    """A body that is not JSON, with the decoder's full message (line, column, position)."""
    try:
        json.loads(await request.body())
    except ValueError as exc:
        return {**error, "ctx": {"error": str(exc)}}
    except Exception:  # the body can no longer be read: the short message will do
        pass
    return dict(error)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        await _json_problem(request, e) if e.get("type") == "json_invalid" else e
        for e in exc.errors()
    ]
    if request.url.path in LEGACY_PATHS:
        return JSONResponse(
            {"message": _legacy_message(errors), "errorCode": GENERAL}, status_code=422
        )
    return JSONResponse(InvalidRequest(validation_problems(errors)).body(), status_code=422)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method) in the envelope, saying what to do."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = str(exc.detail)
    if status == 404:
        detail = (
            f"There is no {request.method} {request.url.path} on this robot; "
            "/openapi.json lists its API."
        )
    elif status == 405:
        detail = (
            f"{request.method} is not allowed on {request.url.path}; /openapi.json lists its API."
        )
    error = ApiError(status, "BadRequest", "Bad Request", detail)
    return JSONResponse(error.body(), status_code=status, headers=dict(exc.headers or {}))


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    error = ApiError(
        500,
        "UnexpectedError",
        "Unexpected Internal Error",
        f"The simulated robot failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug "
        "in ot2-sim; please report it with the request that caused it.",
    )
    return JSONResponse(error.body(), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
