"""The worker pool of the software-8 robot: ``pool.WorkerPool``, with workers that run
software-8 jobs (``serve_v8.serve_one``) and a forkserver that preloads the protocol engine.

Everything else (spares forked ahead of time, one job per process, kill to cancel) is the
4.x pool's. One difference: a software-8 run's worker is used by several threads (the run's
reader, requests sending calls, the request that ends the run), so ``EngineWorker`` reaps
exactly once and closes its pipe only while no send is under way; ``stop`` ends the process
without touching the pipe, for the thread that reads it to reap. A pipe's file descriptor
closed twice, or under a thread still using it, hits whatever reused that number meanwhile:
typically the pipe of the worker just forked for the next run, which then failed "closed
its connection" (``POST /runs`` 422), or whose messages the old run's reader took.
"""

from __future__ import annotations

import multiprocessing.process
import threading
from multiprocessing.connection import Connection

from ot2_notebook.simulator.workers import serve_v8
from ot2_notebook.simulator.workers.pool import Worker, WorkerDied, WorkerPool

_PRELOAD = ["ot2_notebook.simulator.workers.preload_v8"]

#: Seconds to wait for a worker whose pipe closed to exit, so its exit code can be told.
EXIT_WAIT = 5.0


class WorkerFailedError(WorkerDied):
    """The worker reported a failure of its own (a bug of the simulator, not the protocol's)."""

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, f"the simulation process failed: {reason}")
        self.exitcode = None
        self.reason = reason


class EngineWorker(Worker):
    """A ``Worker`` that any number of threads may end at once: it is reaped (killed, joined,
    its pipe closed, the pool told) exactly once."""

    def __init__(self, proc: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        super().__init__(proc, conn)
        self._reap_lock = threading.RLock()  # a reaper may be re-entered (tests do it)
        self.reaped = False

    def stop(self) -> None:
        """End the process now, leaving its pipe (and the reaping) to the thread reading it:
        that thread sees the pipe close when the process has gone."""
        if self._reap_lock.acquire(blocking=False):  # else another thread is reaping it
            try:
                if not self.reaped and self.process.is_alive():
                    self.process.kill()
            finally:
                self._reap_lock.release()

    def kill_soon(self) -> None:
        """Stop the worker now and reap it on a thread, off the request's path."""
        self.stop()
        threading.Thread(target=self.kill, name="worker-reap", daemon=True).start()

    def kill(self) -> None:
        """Stop the worker now and reap it; later calls, from any thread, do nothing."""
        with self._reap_lock:
            if self.reaped:
                return
            self.reaped = True
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=EXIT_WAIT)
            with self._send_lock:  # a send in progress finishes on the pipe it started on
                try:
                    self.conn.close()
                except OSError:
                    pass
            ended, self.on_end = self.on_end, None
        if ended is not None:  # outside the lock: the pool takes its own
            ended()

    def _exitcode(self) -> int | None:
        # under load a worker whose pipe closed may take more than a second to exit;
        # waiting here tells "exited with code N" from "closed its connection"
        with self._reap_lock:
            self.process.join(timeout=EXIT_WAIT)
            return self.process.exitcode


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
        return EngineWorker(proc, parent_end)
