"""The ASGI application: routes, error handlers, middleware, and the robot's lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from ot2_notebook._version import __version__
from ot2_notebook.simulator.analysis import UnsupportedOpentrons
from ot2_notebook.simulator.api import (
    analysis_cache,
    handlers,
    hardware,
    health,
    notifications,
    protocols,
    sessions,
    settings,
    simulator,
)
from ot2_notebook.simulator.api.body_limit import BodySizeLimit
from ot2_notebook.simulator.api.local_only import HostPolicy, LocalOnly
from ot2_notebook.simulator.api.middleware import RobotLikeRequests, VersionHeaders
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.errors import PayloadTooLarge, envelope
from ot2_notebook.simulator.robot import SimulatedRobot

log = logging.getLogger("ot2_notebook.simulator")

DESCRIPTION = """\
A simulated Opentrons OT-2 speaking the robot software 4.x HTTP API ("experimental
protocol sessions") and its notification feed, backed by the real `opentrons` OT-2
simulation. Every request needs the `Opentrons-Version` header (2, or `*`). Only this
machine's own programs and pages are served: a `Host` that does not name this machine, or
the `Origin` of another site's page, is refused with 403.
"""


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    config = config or SimulatorConfig()
    if config.robot_software >= 5:  # the /protocols + /runs API of robot software 5-8
        from ot2_notebook.simulator.v8.app import create_app as create_software_8_app

        return create_software_8_app(config)
    robot = SimulatedRobot(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(robot.start)
        except UnsupportedOpentrons as exc:
            app.state.startup_error = str(exc)  # ot2-sim repeats it last, after uvicorn's report
            await run_in_threadpool(robot.stop)
            raise
        log.info("ready: opentrons %s", robot.info.opentrons_version if robot.info else "?")
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
    app.state.startup_error = None
    handlers.install(app)
    for module in (health, settings, hardware, protocols, sessions, notifications, analysis_cache):
        app.include_router(module.router)
    if robot.request_log is not None:
        app.include_router(simulator.router)
    # the last added runs first: version headers on every answer, then the Host and Origin
    # check before anything is read, then (robot-like) the request log and the gate, so that
    # a refusal of the body's size is logged with its 413, then the bound on the body's size
    app.add_middleware(
        BodySizeLimit,
        max_bytes=config.limits.max_request_bytes,
        error_body=lambda message: json.dumps(envelope(PayloadTooLarge(message))).encode(),
    )
    if robot.request_log is not None:
        app.add_middleware(RobotLikeRequests, log=robot.request_log, gate=robot.gate)
    app.add_middleware(LocalOnly, policy=HostPolicy.build(config.host, config.allow_hosts))
    app.add_middleware(VersionHeaders)
    return app
