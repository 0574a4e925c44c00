"""Imported once by the software-8 worker forkserver, so every forked worker starts warm.

The 4.x preload (``preload.py``: opentrons, its shims) plus the protocol engine, runner and
reader that software-8 jobs use. Nothing here may start a thread or an event loop.
"""

from __future__ import annotations

import opentrons.protocol_engine
import opentrons.protocol_reader
import opentrons.protocol_runner  # noqa: F401
from opentrons.protocol_runner import create_simulating_orchestrator as _orchestrator  # noqa: F401

from ot2_notebook.simulator.workers import (  # noqa: F401
    engine_v8,
    preload,
    run_v8,
    serve_v8,
    wire_v8,
)
