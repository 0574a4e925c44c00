"""The worker pool of the software-8 robot: ``pool.WorkerPool``, with workers that run
software-8 jobs (``serve_v8.serve_one``) and a forkserver that preloads the protocol engine.

Everything else (spares forked ahead of time, one job per process, kill to cancel) is the
4.x pool's, including ``Worker``'s exactly-once reaping, which a software-8 run needs most:
its worker is used by several threads (the run's reader, requests sending calls, the request
that ends the run).
"""

from __future__ import annotations

from ot2_notebook.simulator.workers import serve_v8
from ot2_notebook.simulator.workers.pool import (
    PRELOAD_FIRST,
    PRELOAD_LAST,
    Worker,
    WorkerDied,
    WorkerPool,
)

_PRELOAD = [PRELOAD_FIRST, "ot2_notebook.simulator.workers.preload_v8", PRELOAD_LAST]


class WorkerFailedError(WorkerDied):
    """The worker reported a failure of its own (a bug of the simulator, not the protocol's)."""

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, f"the simulation process failed: {reason}")
        self.exitcode = None
        self.reason = reason


class EngineWorkerPool(WorkerPool):
    def __init__(self, *, spares: int = 2, memory_limit_mb: int = 2048) -> None:
        super().__init__(spares=spares, memory_limit_mb=memory_limit_mb)
        self._context.set_forkserver_preload(_PRELOAD)

    def _fork(self, warm: bool) -> Worker:
        """A new software-8 worker; ``warm`` ones analyse a small protocol while they wait."""
        parent_end, child_end = self._context.Pipe(duplex=True)
        proc = self._context.Process(
            target=serve_v8.serve_one,
            args=(child_end, self._memory_limit_mb, warm),
            name="ot2-sim-worker-v8",
            daemon=True,
        )
        proc.start()
        child_end.close()
        return Worker(proc, parent_end)
