"""The ``Opentrons-Version`` header of robot-server 8: required, HTTP API version 4, minimum 2.

Rules (recording 00): every route but ``/openapi.json`` requires the header (a name in any
case); ``*`` and anything above 4 are served as 4; below 2 is refused (400
``OutdatedAPIVersion``); a non-integer is a 422. Responses: errors always carry
``Opentrons-Version: 4`` and ``Opentrons-Min-Version: 2``; successes of the legacy routes
(``/health``, ``/settings``, ``/sessions``) carry the version they were served with; successes
of ``/protocols`` and ``/runs`` carry no version headers at all (robot-server 8.1.0's newer
routers do not set them; clients must not rely on them there).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ot2_notebook.simulator.v8.errors import ApiError

API_VERSION = 4
MIN_API_VERSION = 2
_STATE_KEY = "opentrons_api_version"
#: Routers whose successful answers carry no version headers.
_BARE_PREFIXES = ("/protocols", "/runs")


async def check_version(
    request: Request,
    opentrons_version: Annotated[
        Literal["*"] | int,
        Header(
            alias="opentrons-version",
            description=(
                "The HTTP API version to use for this request. Must be `2` or higher. To use "
                "the latest version unconditionally, specify `*`."
            ),
        ),
    ],
) -> int:
    """FastAPI dependency: the version this request is served with (``async``: no I/O, so
    FastAPI calls it on the event loop, not in its thread pool)."""
    version = API_VERSION if opentrons_version == "*" else min(API_VERSION, int(opentrons_version))
    if version < MIN_API_VERSION:
        raise ApiError(
            400,
            "OutdatedAPIVersion",
            "Requested HTTP API version no longer supported",
            f"The requested API version '{version}' is not supported. 'Opentrons-Version' must "
            f"be at least '{MIN_API_VERSION}'. Please upgrade your Opentrons App or other HTTP "
            "API client.",
        )
    request.scope.setdefault("state", {})[_STATE_KEY] = version
    return version


class VersionHeaders:
    """Pure ASGI middleware putting the version headers where robot-server 8.1.0 puts them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                version: int | None = None
                if status >= 400:
                    version = API_VERSION
                elif path != "/openapi.json" and not path.startswith(_BARE_PREFIXES):
                    version = (scope.get("state") or {}).get(_STATE_KEY, API_VERSION)
                if version is not None:
                    headers = MutableHeaders(scope=message)
                    headers["Opentrons-Version"] = str(version)
                    headers["Opentrons-Min-Version"] = str(MIN_API_VERSION)
            await send(message)

        await self.app(scope, receive, send_with_headers)
