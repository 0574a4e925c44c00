"""The work behind a session: load, ``startSimulate`` and runs, each in a worker process.

Each job runs in its own thread, one job at a time per session. A run streams every step
from the worker as it happens; pause and resume travel to the worker, which stops between
steps (or mid-step while pacing) and acknowledges, and only then does the state change.
Cancel kills the worker, so it takes effect at once whatever the protocol is doing, and
the server never waits for the protocol (the real 4.7 server did, and could deadlock).

The runner owns no session state and changes none: it tells a ``SessionReports`` (the
session manager) what happened, and the manager decides what that means for the session.
It knows a session only as a ``SessionJob``, so it does not import the manager.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ot2_notebook.simulator.analysis import Analysis, Analyzer, crash_error, timeout_error
from ot2_notebook.simulator.hardware import AttachedHardware
from ot2_notebook.simulator.workers import messages
from ot2_notebook.simulator.workers.messages import (
    Control,
    JobResult,
    Paused,
    Resumed,
    Step,
    Waiting,
)
from ot2_notebook.simulator.workers.pool import Worker, WorkerDied, WorkerPool, WorkerTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionJob:
    """What the runner knows of a session: where its files are, and the lock that keeps its
    jobs (load, simulate, run) one at a time."""

    session_id: str
    directory: Path
    protocol_file: str
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


class SessionReports(Protocol):
    """What the runner reports, to the one who owns the sessions (``SessionManager``).

    Every report names the session; run reports also carry the run's ``RunHandle``, so
    that the owner can ignore reports from a run it has cancelled or replaced.
    """

    def is_live(self, session_id: str) -> bool:
        """Whether the session still exists (a job for a deleted one is skipped)."""

    def simulated(self, session_id: str, analysis: Analysis | None, *, is_load: bool) -> None:
        """A load (``is_load``) or ``startSimulate`` ended; ``None``: it did not simulate."""

    def run_started(self, session_id: str, handle: RunHandle) -> bool:
        """The run is about to start in a worker; ``False``: it is no longer wanted."""

    def run_step(self, session_id: str, handle: RunHandle, step: Step) -> None:
        """A step of the run started or ended."""

    def run_paused(self, session_id: str, handle: RunHandle) -> None:
        """The worker acknowledged a pause (a command, or ``ctx.pause()``)."""

    def run_resumed(self, session_id: str, handle: RunHandle) -> None:
        """The worker acknowledged a resume."""

    def run_finished(self, session_id: str, handle: RunHandle, step_count: int) -> None:
        """The protocol ran to its end."""

    def run_failed(
        self,
        session_id: str,
        handle: RunHandle,
        errors: list[dict[str, Any]],
        step_count: int | None = None,
    ) -> None:
        """The run stopped with an error (the protocol's, or its worker's end)."""

    def run_ended(self, session_id: str, handle: RunHandle) -> None:
        """The run's thread is done, whatever happened (always the last report of a run)."""


class RunHandle:
    """The server's grip on one run: pending controls until the worker is attached, and
    cancellation that works before, during and after the worker starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._pending: list[Control] = []
        self.cancelled = False

    def attach(self, worker: Worker) -> bool:
        with self._lock:
            if self.cancelled:
                return False
            self._worker = worker
            pending, self._pending = self._pending, []
        for control in pending:
            self._send(worker, control)
        return True

    def _control(self, control: Control) -> None:
        with self._lock:
            worker = self._worker
            if worker is None:
                self._pending.append(control)
                return
        self._send(worker, control)

    @staticmethod
    def _send(worker: Worker, control: Control) -> None:
        try:
            worker.send(control)
        except WorkerDied:  # the run is ending anyway; its thread reports how
            pass

    def pause(self) -> None:
        self._control(messages.Pause())

    def resume(self) -> None:
        self._control(messages.Resume())

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            worker = self._worker
        if worker is not None and worker.process.is_alive():
            worker.process.kill()  # the run thread reaps it


class SessionRunner:
    def __init__(
        self,
        analyzer: Analyzer,
        pool: WorkerPool,
        *,
        speed: float | None,
        stall_timeout: float,
        hardware: AttachedHardware | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.pool = pool
        self.speed = speed
        self.stall_timeout = stall_timeout
        #: The robot's instruments, which a run's protocol must find (``None``: any loads).
        self.hardware = hardware
        self._threads: set[threading.Thread] = set()
        self._runs: set[RunHandle] = set()
        self._lock = threading.Lock()

    # -- jobs ----------------------------------------------------------------------------
    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        def body() -> None:
            try:
                target(*args)
            except Exception:  # a bug here must not kill the server; it is logged
                log.exception("session job %s failed", name)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=body, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def load(self, job: SessionJob, reports: SessionReports) -> None:
        """Simulate the protocol once for a new session (its load), in the background."""
        self._spawn(f"load-{job.session_id[:8]}", self._simulate, job, reports, True)

    def simulate(self, job: SessionJob, reports: SessionReports) -> None:
        """``protocol.startSimulate``, in the background."""
        self._spawn(f"simulate-{job.session_id[:8]}", self._simulate, job, reports, False)

    def run(self, job: SessionJob, reports: SessionReports) -> RunHandle:
        """Start a run in the background; its handle pauses, resumes and cancels it."""
        handle = RunHandle()
        with self._lock:
            self._runs.add(handle)
        self._spawn(f"run-{job.session_id[:8]}", self._run, job, reports, handle)
        return handle

    # -- load and simulate ---------------------------------------------------------------
    def _simulate(self, job: SessionJob, reports: SessionReports, is_load: bool) -> None:
        analysis: Analysis | None = None
        try:
            with job.lock:
                if reports.is_live(job.session_id):
                    analysis = self.analyzer.analyse(
                        job.directory, job.protocol_file, messages.SIMULATE
                    )
        finally:
            reports.simulated(job.session_id, analysis, is_load=is_load)

    # -- runs ----------------------------------------------------------------------------
    def _run(self, job: SessionJob, reports: SessionReports, handle: RunHandle) -> None:
        try:
            with job.lock:
                if handle.cancelled or not reports.run_started(job.session_id, handle):
                    return
                worker = self.pool.acquire()
                try:
                    self._stream(job, reports, handle, worker)
                finally:
                    worker.kill()
        finally:
            with self._lock:
                self._runs.discard(handle)
            reports.run_ended(job.session_id, handle)

    def _stream(
        self, job: SessionJob, reports: SessionReports, handle: RunHandle, worker: Worker
    ) -> None:
        session_id = job.session_id
        timeout: float | None = self.stall_timeout
        try:
            worker.send(
                messages.Job(
                    messages.RUN,
                    str(job.directory),
                    job.protocol_file,
                    self.speed,
                    self.analyzer.max_api_level,
                    hardware=self.hardware,
                )
            )
            # only now may controls reach the worker: a pause sent the instant the run
            # started (kept pending until here) must follow the job, never precede it
            if not handle.attach(worker):
                return  # cancelled before the worker had the job
            while not handle.cancelled:
                message = worker.recv(timeout)
                timeout = self.stall_timeout
                match message:
                    case Step():
                        reports.run_step(session_id, handle, message)
                    case Waiting(seconds=seconds):
                        timeout = seconds + self.stall_timeout
                    case Paused():
                        timeout = None  # a paused run may wait for the user indefinitely
                        reports.run_paused(session_id, handle)
                    case Resumed():
                        reports.run_resumed(session_id, handle)
                    case JobResult(errors=errors, step_count=step_count) if errors:
                        reports.run_failed(session_id, handle, list(errors), step_count)
                        return
                    case JobResult(step_count=step_count):
                        reports.run_finished(session_id, handle, step_count)
                        return
                    case _:
                        raise TypeError(f"unexpected message from a worker: {message!r}")
        except (WorkerDied, WorkerTimeout) as exc:
            if handle.cancelled:
                return
            if isinstance(exc, WorkerTimeout):
                kind, text = timeout_error(self.stall_timeout)
                text = text.replace("finish simulating", "make progress")
            else:
                kind, text = crash_error(exc)
            reports.run_failed(session_id, handle, [{"type": kind, "description": text}])

    # -- shutdown ------------------------------------------------------------------------
    def stop_all(self, timeout: float = 5.0) -> None:
        """Cancel every run and wait (bounded) for job threads to end."""
        with self._lock:
            runs = list(self._runs)
        for handle in runs:
            handle.cancel()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)
