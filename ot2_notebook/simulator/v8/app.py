"""The ASGI application of the simulated OT-2 on robot software 8: routes, errors, middleware,
and the robot's lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ot2_notebook._version import __version__
from ot2_notebook.simulator.api.local_only import HostPolicy, LocalOnly
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.v8 import errors
from ot2_notebook.simulator.v8.api import hardware, legacy, protocols, runs
from ot2_notebook.simulator.v8.robot import SoftwareEightRobot
from ot2_notebook.simulator.v8.versioning import API_VERSION, MIN_API_VERSION, VersionHeaders

log = logging.getLogger("ot2_notebook.simulator")

DESCRIPTION = """\
A simulated Opentrons OT-2 on robot software 8: the `/protocols` and `/runs` HTTP API of
robot-server 8 and its MQTT notifications, backed by opentrons' own protocol engine and
runner on simulated OT-2 hardware. Every request but this document needs the
`Opentrons-Version` header (`*`, or 2 and up).
"""


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413 before reading them all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if refused:
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        mb = self.max_bytes / (1024 * 1024)
        body = json.dumps(
            errors.ApiError(
                413,
                "PayloadTooLarge",
                "Payload Too Large",
                f"The request body is larger than the simulated robot accepts ({mb:.0f} MB). "
                "Upload smaller files, or start ot2-sim with a larger --max-upload-mb.",
            ).body()
        ).encode()
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


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    config = config or SimulatorConfig(robot_software=8, max_protocols=5)
    robot = SoftwareEightRobot(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(robot.start)
        try:
            yield
        finally:
            await run_in_threadpool(robot.stop)

    app = FastAPI(
        title="ot2-sim: simulated OT-2 on robot software 8",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.robot = robot
    errors.install(app)
    for module in (legacy, hardware, protocols, runs):
        app.include_router(module.router)
    # the last added runs first, as in the 4.x app: version headers, then the Host and Origin
    # check (only this machine's programs and pages) before anything is read, then the bound
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_request_bytes)
    app.add_middleware(
        LocalOnly, policy=HostPolicy.build(config.host, config.allow_hosts), error_code="4000"
    )
    app.add_middleware(VersionHeaders)
    return app
