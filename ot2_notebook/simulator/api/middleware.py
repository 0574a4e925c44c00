"""Pure ASGI middleware: version headers on every response, a bound on request size, and
(robot-like mode) the request log and the gate that holds requests while a stop blocks.

Plain ASGI (not ``BaseHTTPMiddleware``) so responses are not buffered and websockets pass
straight through.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ot2_notebook.simulator.api.versioning import API_VERSION, MIN_API_VERSION
from ot2_notebook.simulator.errors import PayloadTooLarge, envelope
from ot2_notebook.simulator.robot_like import LOG_ENTRY, Gate, RequestLog

#: The simulator's own routes: neither logged nor held.
SIMULATOR_PREFIX = "/simulator/"


class VersionHeaders:
    """Adds ``Opentrons-Version`` and ``Opentrons-Min-Version`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Opentrons-Version"] = str(API_VERSION)
                headers["Opentrons-Min-Version"] = str(MIN_API_VERSION)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413, counting while reading, so a
    huge upload is stopped early instead of being spooled to disk first. A declared
    ``Content-Length`` over the bound is refused before reading anything.

    While reading, the refusal is raised as an ``HTTPException``: FastAPI turns any other
    error during body parsing into a generic 400, but re-raises HTTP exceptions.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        mb = self.max_bytes / (1024 * 1024)
        return (
            f"The request body is larger than the simulated robot accepts ({mb:.0f} MB). "
            "Upload smaller files, or start ot2-sim with a larger --max-upload-mb."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                body = json.dumps(envelope(PayloadTooLarge(self._message()))).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                            (b"opentrons-version", str(API_VERSION).encode()),
                            (b"opentrons-min-version", str(MIN_API_VERSION).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self._message())
            return message

        await self.app(scope, counting_receive, send)


class RobotLikeRequests:
    """Robot-like mode: records every request in the ``RequestLog`` (its entry is in the
    scope under ``LOG_ENTRY`` for the route to fill in, and gets the answer's status), and
    holds it at the ``Gate`` while a stop blocks the robot, as robot-server 4.7's blocked
    event loop holds everything (websockets too). ``/simulator/...`` passes untouched."""

    def __init__(self, app: ASGIApp, log: RequestLog, gate: Gate) -> None:
        self.app = app
        self.log = log
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] not in ("http", "websocket") or path.startswith(SIMULATOR_PREFIX):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "WEBSOCKET"))
        entry = self.log.open(method, path)
        scope[LOG_ENTRY] = entry
        await self.gate.passage()

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif message["type"] == "websocket.accept":
                entry["status"] = 101
            await send(message)

        await self.app(scope, receive, send_and_note)
