"""The body of one software-8 worker process: wait for a job, run it, report, exit.

Forked warm from the pool's forkserver (``pool_v8.py``), one job per process, as the 4.x
workers (``process.py``): an analysis, a run (for as long as it is the robot's current run),
or a probe. The protocol's output goes to a bounded buffer, its memory is bounded, and its
working directory is an empty folder of its own (robot-server runs protocols from its own
folder, not the protocol's: protocol files import nothing and open nothing beside them).
What goes wrong in the worker itself (not in the protocol) is logged to the worker's own
stderr, which it shares with the simulator (its log), and reported to the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers.messages import Nowhere
from ot2_notebook.simulator.workers.process import (
    _CappedOutput,
    _limit_memory,
    freeze_what_is_loaded,
    log_to_simulator,
    warm_up_protocol,
)

#: The folder (inside the robot's data folder) in which each job gets an empty working folder.
WORK_DIR_ENV = "OT2_SIM_WORK_DIR"

_WARM_UP_HEADER = 'requirements = {"robotType": "OT-2", "apiLevel": "2.20"}'


log = logging.getLogger(__name__)


def _log_to_simulator() -> None:
    """The simulator's loggers write to its log (``process.log_to_simulator``), and so do
    uncaught exceptions of threads: a software-8 worker's threads are the engine's own."""
    log_to_simulator()

    def excepthook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        log.error(
            "thread %s failed",
            name,
            exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
        )

    threading.excepthook = excepthook


def warm_up() -> None:
    """Analyse a small built-in protocol while this spare waits for its job: the first
    analysis in a fresh process is the slow one (definitions read, caches filled)."""
    from ot2_notebook.simulator.workers import engine_v8

    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _CappedOutput()
    try:
        with tempfile.TemporaryDirectory(prefix="ot2-sim-warm-up-") as folder:
            (Path(folder) / "warm_up.py").write_text(warm_up_protocol(_WARM_UP_HEADER))
            job = msg.AnalyseJob(directory=folder, files=("warm_up.py",))
            asyncio.run(engine_v8.analyse(job, Nowhere()))
    except Exception:  # only a speed-up: a job works the same without it
        pass
    finally:
        sys.stdout, sys.stderr = out, err


def _run(job: Any, conn: Connection) -> None:
    from ot2_notebook.simulator.workers import engine_v8, run_v8

    if isinstance(job, msg.AnalyseJob):
        asyncio.run(engine_v8.analyse(job, conn))
    elif isinstance(job, msg.RunJob):
        asyncio.run(run_v8.RunService(job, conn).serve())
    else:
        conn.send(msg.WorkerFailed(f"unknown job {type(job).__name__}"))


def serve_one(conn: Connection, memory_limit_mb: int, warm: bool = False) -> None:
    """Entry point of a worker process; ``warm``: warm up before waiting for the job."""
    logging.getLogger("opentrons").setLevel(logging.ERROR)
    if warm:
        warm_up()
    freeze_what_is_loaded()
    try:
        job: Any = conn.recv()
    except (EOFError, OSError):
        return
    if job is None:
        return
    _log_to_simulator()
    if isinstance(job, msg.ProbeJob):
        from ot2_notebook.simulator.workers import engine_v8

        conn.send(msg.Probed(engine_v8.probe()))
        return
    _limit_memory(memory_limit_mb)
    sys.stdout = sys.stderr = _CappedOutput()
    os.chdir(tempfile.mkdtemp(prefix="job-", dir=os.environ.get(WORK_DIR_ENV) or None))
    try:
        _run(job, conn)
    except BaseException as error:  # the simulator's own failure, not the protocol's
        log.error("the %s failed", type(job).__name__, exc_info=True)
        try:
            conn.send(msg.WorkerFailed(f"{type(error).__name__}: {error}"))
        except (OSError, EOFError):
            pass
        if not isinstance(error, Exception):
            raise
