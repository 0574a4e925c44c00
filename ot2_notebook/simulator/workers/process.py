"""The body of one worker process: wait for a job, run it, report, exit.

Workers are forked from a warm ``forkserver`` (see ``pool.py``) that has already imported
``opentrons``, so a worker starts with everything loaded and a clean slate: each process
runs exactly one job and exits, so nothing a protocol does (monkeypatching, global state,
leaked threads) can reach the next one.
"""

from __future__ import annotations

import io
import os
import resource
import sys
from multiprocessing.connection import Connection
from typing import Any

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


def serve_one(conn: Connection, memory_limit_mb: int) -> None:
    """Entry point of a worker process."""
    try:
        job: Any = conn.recv()
    except (EOFError, OSError):
        return
    if job is None:  # the pool is shutting down and no longer needs this spare
        return
    from ot2_notebook.simulator.workers import engine

    if job.get("mode") == messages.PROBE:
        conn.send(messages.result(**engine.probe()))
        return
    _limit_memory(memory_limit_mb)
    output = _CappedOutput()
    sys.stdout = sys.stderr = output
    outcome = engine.run_job(job, conn)
    outcome[1]["output"] = "".join(output.parts)
    conn.send(outcome)
