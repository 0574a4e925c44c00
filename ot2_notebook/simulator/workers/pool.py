"""Warm, disposable worker processes for running user protocols.

Design: ``multiprocessing``'s forkserver imports ``opentrons`` once (``preload.py``), then
forks a fresh process per job. A few spares are forked ahead of time, each blocked waiting
for its job, so a request never waits for a fork. A spare warms up (``process.warm_up``)
with about twice a small analysis's CPU, so the pool forks replacements once the jobs it
handed out have ended (or after ``REFILL_DELAY`` s, or at once when no spare is left),
not while they run: on a busy machine the replacement would take CPU from the job that
made it necessary (benchmarks/README.md, "Where the time goes"). A worker runs one job and exits; to
cancel a run or stop a protocol that hangs, the server kills it. Killing is always safe
because the next job gets another process.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from ot2_notebook.simulator.workers import process
from ot2_notebook.simulator.workers.messages import Job, JobResult, ProbeJob, ProbeResult

log = logging.getLogger(__name__)

#: Imported first by every worker forkserver, before numpy loads (``one_thread.py``).
PRELOAD_FIRST = "ot2_notebook.simulator.workers.one_thread"
#: Imported last: freezes what the forkserver loaded before it forks (``preloaded.py``).
PRELOAD_LAST = "ot2_notebook.simulator.workers.preloaded"
_PRELOAD = [PRELOAD_FIRST, "ot2_notebook.simulator.workers.preload", PRELOAD_LAST]

#: Seconds the refill waits for running jobs to end before forking replacements anyway.
REFILL_DELAY = 5.0
#: Seconds to wait for a worker to exit once killed, or once its pipe closed (so that its
#: exit code can be told).
EXIT_WAIT = 5.0


class WorkerDied(Exception):
    """The worker process ended without sending its result."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        if exitcode is None:
            how = "closed its connection"
        elif exitcode < 0:
            how = f"was killed by signal {-exitcode}"
        else:
            how = f"exited with code {exitcode}"
        super().__init__(f"the simulation process {how}")


class WorkerTimeout(Exception):
    """No message arrived from the worker in time."""


class Worker:
    """One forked worker process and the server's end of its pipe.

    Any number of threads may end a worker at once (a job's timeout, a cancel, the thread
    reading its pipe): it is reaped (killed, joined, its pipe closed, the pool told) exactly
    once, and its pipe is closed only while no send is under way. A pipe's file descriptor
    closed twice, or under a thread still using it, hits whatever reused that number
    meanwhile: typically the pipe of the worker just forked for the next job (seen with
    robot software 8's runs: ``POST /runs`` 422 "closed its connection").
    """

    def __init__(self, proc: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.process = proc
        self.conn = conn
        self._send_lock = threading.Lock()
        self._reap_lock = threading.RLock()  # a reaper may be re-entered (tests do it)
        self.reaped = False
        #: called once when the worker is reaped (the pool counts the jobs running)
        self.on_end: Callable[[], None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def send(self, obj: Any) -> None:
        with self._send_lock:
            try:
                self.conn.send(obj)
            except (BrokenPipeError, OSError, EOFError) as exc:
                raise WorkerDied(self._exitcode()) from exc

    def recv(self, timeout: float | None) -> Any:
        """The next message; ``WorkerTimeout`` after ``timeout`` s, ``WorkerDied`` on exit."""
        try:
            if not self.conn.poll(timeout):
                raise WorkerTimeout()
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerDied(self._exitcode()) from exc

    def _exitcode(self) -> int | None:
        # under load a worker whose pipe closed may take more than a second to exit;
        # waiting here tells "exited with code N" from "closed its connection"
        with self._reap_lock:
            self.process.join(timeout=EXIT_WAIT)
            return self.process.exitcode

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


class WorkerPool:
    """Hands out warm worker processes, keeping ``spares`` forked in advance."""

    def __init__(
        self, *, spares: int = 2, memory_limit_mb: int = 2048, warm_spares: bool = True
    ) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        self._spares_wanted = max(0, spares)
        # a warm-up saves a request its wait when cores are idle; a batch keeps every core
        # busy, where it costs more CPU than it saves (benchmarks/README.md)
        self._warm_spares = warm_spares
        self._memory_limit_mb = memory_limit_mb
        self._spares: deque[Worker] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._running = 0
        self._refill_needed = threading.Event()
        self._closed = False
        self._refiller: threading.Thread | None = None
        #: worker processes forked, and jobs handed to one (``GET /simulator/analysis-cache``)
        self.forks = 0
        self.jobs = 0

    def start(self, wait: bool = True) -> None:
        """Start the forkserver (imports opentrons) and fork the first spares."""
        self._refiller = threading.Thread(
            target=self._refill_loop, name="worker-refill", daemon=True
        )
        self._refiller.start()
        if wait:
            worker = self._fork(warm=self._warm_spares)
            with self._lock:
                self._spares.append(worker)
        self._refill_needed.set()

    def _fork(self, warm: bool) -> Worker:
        """A new worker; ``warm`` ones (spares) warm up while they wait for a job."""
        parent_end, child_end = self._context.Pipe(duplex=True)
        proc = self._context.Process(
            target=process.serve_one,
            args=(child_end, self._memory_limit_mb, warm),
            name="ot2-sim-worker",
            daemon=True,
        )
        proc.start()
        child_end.close()
        with self._lock:
            self.forks += 1
        return Worker(proc, parent_end)

    def acquire(self) -> Worker:
        """A worker ready for one job (the caller must ``kill()`` or let it finish)."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        with self._lock:
            while self._spares:
                worker = self._spares.popleft()
                if worker.process.is_alive():
                    break
                worker.kill()
            else:
                worker = None
            self.jobs += 1
            self._running += 1
        self._refill_needed.set()
        if worker is None:
            worker = self._fork(warm=False)
        worker.on_end = self._job_ended
        return worker

    def _job_ended(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def _wait_for_jobs(self) -> None:
        """Until the jobs handed out have ended, no spare is left, or ``REFILL_DELAY`` s."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._running <= 0 or not self._spares,
                timeout=REFILL_DELAY,
            )

    def _refill_loop(self) -> None:
        while not self._closed:
            self._refill_needed.wait()
            self._refill_needed.clear()
            self._wait_for_jobs()
            while not self._closed:
                with self._lock:
                    missing = self._spares_wanted - len(self._spares)
                if missing <= 0:
                    break
                try:
                    worker = self._fork(warm=self._warm_spares)
                except Exception:  # e.g. during interpreter shutdown; acquire() forks on demand
                    log.exception("could not fork a spare worker")
                    time.sleep(0.5)
                    break
                with self._lock:
                    if self._closed:
                        worker.kill()
                        return
                    self._spares.append(worker)

    def shutdown(self) -> None:
        """Stop every spare worker; running jobs are stopped by their owners."""
        self._closed = True
        self._refill_needed.set()
        with self._changed:
            self._changed.notify_all()
        with self._lock:
            spares = list(self._spares)
            self._spares.clear()
        for worker in spares:
            worker.kill()
        if self._refiller is not None:
            self._refiller.join(timeout=5.0)


ResultT = TypeVar("ResultT", JobResult, ProbeResult)


def run_to_result(
    worker: Worker, job: Job | ProbeJob, timeout: float, expect: type[ResultT]
) -> ResultT:
    """Send ``job`` and wait for its result (an ``expect``), ignoring progress messages.

    Raises ``WorkerTimeout`` (after killing the worker) or ``WorkerDied``.
    """
    worker.send(job)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            message = worker.recv(remaining)
            if isinstance(message, expect):
                return message
    finally:
        worker.kill_soon()
