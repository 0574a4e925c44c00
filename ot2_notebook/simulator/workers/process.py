"""The body of one worker process: wait for a job, run it, report, exit.

Workers are forked from a warm ``forkserver`` (see ``pool.py``) that has already imported
``opentrons``, so a worker starts with everything loaded and a clean slate: each process
runs exactly one job and exits, so nothing a protocol does (monkeypatching, global state,
leaked threads) can reach the next one.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import resource
import sys
import tempfile
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from ot2_notebook.simulator.workers import messages

_OUTPUT_LIMIT = 64 * 1024


class _CappedOutput(io.TextIOBase):
    """Collects what a protocol prints, up to a bound, instead of the server's terminal."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < _OUTPUT_LIMIT:
            self.parts.append(text[: _OUTPUT_LIMIT - self.size])
            self.size += len(text)
        return len(text)


def _limit_memory(extra_mb: int) -> None:
    """Bound this process's address space so a protocol that exhausts memory fails here
    (MemoryError, or the process dies) instead of starving the machine."""
    if extra_mb <= 0:
        return
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    limit = current + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def log_to_simulator() -> None:
    """The simulator's own loggers (``ot2_notebook.*``) in this worker write to the process's
    stderr as inherited, i.e. the simulator's log, even after the job's output is captured
    (``sys.stderr`` replaced): what goes wrong in the simulator itself is not the protocol's
    output. Called once a worker has its job."""
    stream = sys.__stderr__
    if stream is None:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(f"ot2-sim: worker {os.getpid()}: %(name)s: %(message)s"))
    ours = logging.getLogger("ot2_notebook")
    ours.addHandler(handler)
    ours.setLevel(logging.WARNING)
    ours.propagate = False


_WARM_UP_STEPS = """def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    pipette.aspirate(10, plate["A1"])
    pipette.dispense(10, plate["B1"])
    pipette.drop_tip()
"""


def warm_up_protocol(header: str) -> str:
    """The small built-in protocol a spare runs before its job, under ``header`` (the line
    that sets its API level: each kind of worker warms the code path its jobs take)."""
    return header + "\n" + _WARM_UP_STEPS


def warm_up() -> None:
    """Simulate a small built-in protocol while this spare waits for its job.

    A freshly forked worker runs its first protocol about twice as slowly as its second
    (copy-on-write page faults, allocator arenas, labware definitions read cold): paying that
    before the job arrives takes 10-15 ms off every analysis. The protocol is ours, so this
    does not weaken the isolation between user protocols.
    """
    from ot2_notebook.simulator.workers import engine

    here, path = os.getcwd(), list(sys.path)
    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _CappedOutput()
    try:
        with tempfile.TemporaryDirectory(prefix="ot2-sim-warm-up-") as folder:
            (Path(folder) / "warm_up.py").write_text(
                warm_up_protocol('metadata = {"apiLevel": "2.13"}')
            )
            engine.run_job(messages.Job(messages.ANALYSE, folder, "warm_up.py"), messages.Nowhere())
    except Exception:  # only a speed-up: a job works the same without it
        pass
    finally:
        sys.stdout, sys.stderr = out, err
        os.chdir(here)
        sys.path[:] = path


def freeze_what_is_loaded() -> None:
    """Keep the cycle collector off every object this worker has before its job.

    A worker starts with all of opentrons (from the forkserver) and what its warm-up left
    (labware definitions, caches): objects the job keeps and never frees. Left to the
    collector, every collection of the job traverses them again: about 2.8 ms of a small
    protocol's 20 ms job go to 3 collections (software 8: 2.1 of 30 ms). ``gc.freeze()``
    moves them out of the collector's sight (0.3 and 0.7 ms left); what the job itself
    allocates is collected as usual. Measured A/B in forked workers after a warm-up:
    ``python -m benchmarks.worker_gc`` (``benchmarks/README.md``).
    """
    gc.freeze()


def serve_one(conn: Connection, memory_limit_mb: int, warm: bool = False) -> None:
    """Entry point of a worker process; ``warm``: warm up before waiting for the job."""
    if warm:
        warm_up()
    freeze_what_is_loaded()
    try:
        job: object = conn.recv()
    except (EOFError, OSError):
        return
    if job is None:  # the pool is shutting down and no longer needs this spare
        return
    from ot2_notebook.simulator.workers import engine

    if isinstance(job, messages.ProbeJob):
        conn.send(engine.probe())
        return
    if not isinstance(job, messages.Job):
        raise TypeError(f"a worker takes a Job or a ProbeJob, not {job!r}")
    log_to_simulator()
    _limit_memory(memory_limit_mb)
    output = _CappedOutput()
    sys.stdout = sys.stderr = output
    result = engine.run_job(job, conn)
    conn.send(replace(result, output="".join(output.parts)))
