"""Imported once by the worker forkserver, so every forked worker starts warm.

Importing ``opentrons`` takes about 1.5 s; doing it here, before any fork, is what lets a
small protocol analyse in tens of milliseconds. Nothing here may start a thread or an
event loop: threads do not survive ``fork``.
"""

from __future__ import annotations

import logging

import opentrons.protocol_api
import opentrons.simulate  # noqa: F401
from opentrons.legacy_commands import types as _command_types  # noqa: F401
from opentrons.protocols import parse as _parse  # noqa: F401
from opentrons.protocols.duration import DurationEstimator as _DurationEstimator  # noqa: F401
from opentrons.protocols.execution import execute as _execute  # noqa: F401

from ot2_notebook.simulator.workers import compat, engine, internals, process  # noqa: F401

compat.apply_all()
logging.getLogger("opentrons").setLevel(logging.ERROR)
