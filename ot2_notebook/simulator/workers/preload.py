"""Imported once by the worker forkserver, so every forked worker starts warm.

Importing ``opentrons`` takes about 1.5 s; doing it here, before any fork, is what lets a
small protocol analyse in tens of milliseconds. Then the forkserver simulates a small
protocol of ours once (``process.warm_up``), so that what a first simulation reads and
builds (labware definitions, settings, lazily imported modules) is already in every
worker: a worker's analysis then takes about as long as opentrons' in-process simulate
(benchmarks/README.md, "Where the time goes"). Nothing may be left running here: threads do
not survive ``fork``, so the warm-up's simulated hardware threads are stopped
(``internals.stop_hardware_threads``), and this checks that no thread is left.
"""

from __future__ import annotations

import logging
import sys
import threading

import opentrons.protocol_api
import opentrons.simulate  # noqa: F401
from opentrons.legacy_commands import types as _command_types  # noqa: F401
from opentrons.protocols import parse as _parse  # noqa: F401
from opentrons.protocols.duration import DurationEstimator as _DurationEstimator  # noqa: F401
from opentrons.protocols.execution import execute as _execute  # noqa: F401

from ot2_notebook.simulator.workers import compat, engine, internals, process  # noqa: F401

compat.apply_all()
logging.getLogger("opentrons").setLevel(logging.ERROR)


def _warm_up_once() -> None:
    process.warm_up()
    internals.stop_hardware_threads()
    left = [t for t in threading.enumerate() if t is not threading.main_thread()]
    for thread in left:
        thread.join(timeout=5.0)
    alive = [t.name for t in left if t.is_alive()]
    if alive:  # forking now could copy a lock some thread holds: say so, loudly
        print(
            f"ot2-sim: the worker forkserver's warm-up left threads running ({alive}); "
            "workers are forked anyway; please report this with your opentrons version.",
            file=sys.stderr,
            flush=True,
        )


_warm_up_once()
