"""The ASGI application: routes, error envelopes, middleware, and the robot's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from ot2_notebook._version import __version__
from ot2_notebook.simulator.api import errors, health, notifications, protocols, sessions, settings
from ot2_notebook.simulator.api.middleware import BodySizeLimit, VersionHeaders
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.robot import SimulatedRobot

log = logging.getLogger("ot2_notebook.simulator")

DESCRIPTION = """\
A simulated Opentrons OT-2 speaking the robot software 4.x HTTP API ("experimental
protocol sessions") and its notification feed, backed by the real `opentrons` OT-2
simulation. Every request needs the `Opentrons-Version` header (2, or `*`).
"""


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    config = config or SimulatorConfig()
    if config.robot_software >= 5:  # the /protocols + /runs API of robot software 5-8
        from ot2_notebook.simulator.v8.app import create_app as create_software_8_app

        return create_software_8_app(config)
    robot = SimulatedRobot(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(robot.start)
        log.info("ready: opentrons %s", robot.info.get("opentrons_version"))
        try:
            yield
        finally:
            await run_in_threadpool(robot.stop)

    app = FastAPI(
        title="ot2-sim: simulated OT-2 robot",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.robot = robot
    errors.install(app)
    for module in (health, settings, protocols, sessions, notifications):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=config.limits.max_request_bytes)
    app.add_middleware(VersionHeaders)
    return app
