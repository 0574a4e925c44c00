"""Pure ASGI middleware: version headers on every response and (robot-like mode) the request
log and the gate that holds requests while a stop blocks. The bound on a request's size, which
the software-8 app shares, is in ``body_limit``.

Plain ASGI (not ``BaseHTTPMiddleware``) so responses are not buffered and websockets pass
straight through.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ot2_notebook.simulator.api.versioning import API_VERSION, MIN_API_VERSION
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
