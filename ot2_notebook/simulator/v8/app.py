"""The ASGI application of the simulated OT-2 on robot software 8: routes, errors, middleware,
and the robot's lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from ot2_notebook._version import __version__
from ot2_notebook.simulator.api.body_limit import BodySizeLimit
from ot2_notebook.simulator.api.local_only import HostPolicy, LocalOnly
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.v8 import errors
from ot2_notebook.simulator.v8.api import hardware, legacy, protocols, runs
from ot2_notebook.simulator.v8.robot import SoftwareEightRobot
from ot2_notebook.simulator.v8.versioning import VersionHeaders

log = logging.getLogger("ot2_notebook.simulator")

DESCRIPTION = """\
A simulated Opentrons OT-2 on robot software 8: the `/protocols` and `/runs` HTTP API of
robot-server 8 and its MQTT notifications, backed by opentrons' own protocol engine and
runner on simulated OT-2 hardware. Every request but this document needs the
`Opentrons-Version` header (`*`, or 2 and up).
"""


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
    app.add_middleware(
        BodySizeLimit,
        max_bytes=config.limits.max_request_bytes,
        error_body=lambda message: json.dumps(
            errors.ApiError(413, "PayloadTooLarge", "Payload Too Large", message).body()
        ).encode(),
    )
    app.add_middleware(
        LocalOnly, policy=HostPolicy.build(config.host, config.allow_hosts), error_code="4000"
    )
    app.add_middleware(VersionHeaders)
    return app
