"""The ``Opentrons-Version`` request header, checked on every HTTP route but the websocket.

Every request states which HTTP API version it speaks (an integer or ``*``); below the
minimum is refused with 400, above the current one is served as the current one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header

from ot2_notebook.simulator.errors import OutdatedAPIVersion

API_VERSION = 2
MIN_API_VERSION = 2
HEADER = "Opentrons-Version"
MIN_HEADER = "Opentrons-Min-Version"


async def check_version(
    opentrons_version: Annotated[
        int | Literal["*"],
        Header(
            alias="opentrons-version",
            description=(
                "The HTTP API version to use for this request. Must be '2' or higher. "
                "To use the latest version unconditionally, specify '*'"
            ),
        ),
    ],
) -> int:
    """FastAPI dependency: the version this request is served with (``async``: no I/O, so
    FastAPI calls it on the event loop, not in its thread pool)."""
    if opentrons_version == "*":
        return API_VERSION
    if opentrons_version < MIN_API_VERSION:
        raise OutdatedAPIVersion(opentrons_version, MIN_API_VERSION)
    return min(opentrons_version, API_VERSION)
