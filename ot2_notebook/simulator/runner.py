"""The work behind a session: load, ``startSimulate`` and runs, each in a worker process.

Each job runs in its own thread, one job at a time per session. A run streams every step
from the worker as it happens; pause and resume travel to the worker, which stops between
steps (or mid-step while pacing) and acknowledges, and only then does the state change.
Cancel kills the worker, so it takes effect at once whatever the protocol is doing, and
the server never waits for the protocol (the real 4.7 server did, and could deadlock).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ot2_notebook import session_states as states
from ot2_notebook.simulator.analysis import Analyzer, crash_error, timeout_error
from ot2_notebook.simulator.notifications import SESSION_EVENTS
from ot2_notebook.simulator.sessions import ProtocolSession, SessionManager, iso
from ot2_notebook.simulator.workers import messages
from ot2_notebook.simulator.workers.pool import Worker, WorkerDied, WorkerPool, WorkerTimeout

log = logging.getLogger(__name__)


class RunHandle:
    """The server's grip on one run: pending controls until the worker is attached, and
    cancellation that works before, during and after the worker starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._pending: list[str] = []
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

    def _control(self, control: str) -> None:
        with self._lock:
            worker = self._worker
            if worker is None:
                self._pending.append(control)
                return
        self._send(worker, control)

    @staticmethod
    def _send(worker: Worker, control: str) -> None:
        try:
            worker.send(control)
        except WorkerDied:  # the run is ending anyway; its thread reports how
            pass

    def control_pause(self) -> None:
        self._control(messages.PAUSE)

    def control_resume(self) -> None:
        self._control(messages.RESUME)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            worker = self._worker
        if worker is not None and worker.process.is_alive():
            worker.process.kill()  # the run thread reaps it


class SessionRunner:
    def __init__(
        self,
        manager: SessionManager,
        analyzer: Analyzer,
        pool: WorkerPool,
        *,
        speed: float | None,
        stall_timeout: float,
    ) -> None:
        self.manager = manager
        self.analyzer = analyzer
        self.pool = pool
        self.speed = speed
        self.stall_timeout = stall_timeout
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        manager.runner = self

    # -- jobs ----------------------------------------------------------------------------
    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        def body() -> None:
            try:
                target(*args)
            except Exception:  # a bug here must not kill the server; it is logged
                log.exception("session job %s failed", name)
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=body, name=name, daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def load(self, session: ProtocolSession) -> None:
        self._spawn(f"load-{session.id[:8]}", self._simulate, session, True)

    def simulate(self, session: ProtocolSession) -> None:
        self._spawn(f"simulate-{session.id[:8]}", self._simulate, session, False)

    def run(self, session: ProtocolSession) -> None:
        """Called with the manager lock held, right after the state became ``running``."""
        handle = RunHandle()
        session.run = handle
        self._spawn(f"run-{session.id[:8]}", self._run, session, handle)

    # -- load and simulate ---------------------------------------------------------------
    def _simulate(self, session: ProtocolSession, is_load: bool) -> None:
        try:
            self._simulate_locked(session, is_load)
        finally:
            session.simulation_done.set()

    def _simulate_locked(self, session: ProtocolSession, is_load: bool) -> None:
        with session.job_lock:
            if not self.manager.is_live(session):
                return
            analysis = self.analyzer.analyse(
                session.directory, session.protocol_file, messages.SIMULATE
            )
            with self.manager.lock:
                if not self.manager.is_live(session):
                    return
                base = session.last_command_number
                for step in analysis.steps:
                    session.events.append(self._event(base, step))
                session.last_command_number = base + analysis.step_count
                if analysis.errors:
                    session.errors = analysis.errors
                    self.manager.set_state(session, states.ERROR)
                elif is_load:
                    session.total_steps = analysis.step_count
                    self.manager.set_state(session, states.LOADED)

    @staticmethod
    def _event(base: int, step: tuple[Any, ...]) -> dict[str, Any]:
        _kind, phase, index, name, text, _depth, timestamp = step
        return {
            "source": "protocol",
            "event": f"{name}.{phase}",
            "timestamp": iso(timestamp),
            "commandId": str(base + index),
            "params": {"text": text} if phase == "start" else None,
            "result": None,
        }

    # -- runs ----------------------------------------------------------------------------
    def _run(self, session: ProtocolSession, handle: RunHandle) -> None:
        with session.job_lock:
            if handle.cancelled or not self.manager.is_live(session):
                return
            worker = self.pool.acquire()
            try:
                if not handle.attach(worker):
                    return
                self._stream(session, handle, worker)
            finally:
                worker.kill()
                with self.manager.lock:
                    if session.run is handle:
                        session.run = None

    def _stream(self, session: ProtocolSession, handle: RunHandle, worker: Worker) -> None:
        manager = self.manager
        base = session.last_command_number
        texts: dict[int, str] = {}
        steps = 0
        timeout: float | None = self.stall_timeout
        try:
            worker.send(
                messages.job(
                    messages.RUN,
                    str(session.directory),
                    session.protocol_file,
                    self.speed,
                    self.analyzer.max_api_level,
                )
            )
            while True:
                message = worker.recv(timeout)
                kind = message[0]
                timeout = self.stall_timeout
                if kind == messages.STEP:
                    _kind, phase, index, _name, text, _depth, _t = message
                    steps = max(steps, index)
                    if phase == "start":
                        texts[index] = text
                    with manager.lock:
                        if handle.cancelled:
                            return
                        session.events.append(self._event(base, message))
                        session.last_command_number = max(session.last_command_number, base + index)
                        self._publish_step(session, base, message, texts.get(index))
                elif kind == messages.WAIT:
                    timeout = float(message[1]) + self.stall_timeout
                elif kind == messages.PAUSED:
                    timeout = None  # a paused run may wait for the user indefinitely
                    with manager.lock:
                        if not handle.cancelled:
                            manager.set_state(session, states.PAUSED)
                elif kind == messages.RESUMED:
                    with manager.lock:
                        if not handle.cancelled:
                            manager.set_state(session, states.RUNNING)
                elif kind == messages.RESULT:
                    result = message[1]
                    with manager.lock:
                        if handle.cancelled:
                            return
                        session.last_command_number = base + int(result.get("step_count") or steps)
                        errors = list(result.get("errors") or [])
                        if errors:
                            session.errors = errors
                            manager.set_state(session, states.ERROR)
                        else:
                            manager.set_state(session, states.FINISHED)
                    return
        except (WorkerDied, WorkerTimeout) as exc:
            if handle.cancelled:
                return
            if isinstance(exc, WorkerTimeout):
                kind_, text_ = timeout_error(self.stall_timeout)
                text_ = text_.replace("finish simulating", "make progress")
            else:
                kind_, text_ = crash_error(exc)
            with manager.lock:
                session.errors = [{"type": kind_, "description": text_}]
                manager.set_state(session, states.ERROR)

    def _publish_step(
        self, session: ProtocolSession, base: int, message: tuple[Any, ...], text: str | None
    ) -> None:
        _kind, phase, index, name, _text, _depth, _t = message
        self.manager.hub.publish(
            SESSION_EVENTS,
            {
                "type": "ProtocolStep",
                "sessionId": session.id,
                "commandId": str(base + index),
                "event": f"{name}.{phase}",
                "text": text,
                "index": index,
                "total": session.total_steps,
            },
        )

    # -- shutdown ------------------------------------------------------------------------
    def stop_all(self, timeout: float = 5.0) -> None:
        """Cancel every run and wait (bounded) for job threads to end."""
        for session in self.manager.list():
            if session.run is not None:
                session.run.cancel()
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)
