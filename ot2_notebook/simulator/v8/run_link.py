"""The server's end of one run's worker process (``workers/run_v8.py``).

``start()`` hands the worker its ``RunJob`` and waits (bounded) until the protocol loaded.
From then on a reader thread receives what the worker streams (``RunChanged``, ``RunFinal``)
and hands it to the run manager's callbacks, and resolves the futures of ``call()``s with the
worker's ``Reply``s. When the worker ends without being asked to (a crash, a kill), the
callbacks hear it once, and every pending call fails with ``WorkerDied``. Either way the
simulator's log says which worker ended and why (the worker logs its own traceback there).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers.pool import Worker, WorkerDied, WorkerPool, WorkerTimeout
from ot2_notebook.simulator.workers.pool_v8 import WorkerFailedError

log = logging.getLogger(__name__)


class RunLink:
    def __init__(
        self,
        pool: WorkerPool,
        job: msg.RunJob,
        *,
        timeout: float,
        on_change: Callable[[msg.RunChanged], None],
        on_final: Callable[[msg.RunFinal], None],
        on_died: Callable[[Exception], None],
    ) -> None:
        self.pool = pool
        self.job = job
        self.timeout = timeout
        self._on_change = on_change
        self._on_final = on_final
        self._on_died = on_died
        self._worker: Worker | None = None
        self._calls: dict[int, Future[msg.Reply]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._closing = False
        self._reading = False
        self._ended = threading.Event()

    @property
    def alive(self) -> bool:
        return self._worker is not None and not self._ended.is_set()

    def start(self) -> msg.RunLoaded:
        """Set the run up in a worker (blocking). Raises ``WorkerTimeout``/``WorkerDied``."""
        worker = self.pool.acquire()
        self._worker = worker
        try:
            worker.send(self.job)
            message = worker.recv(self.timeout)
            if isinstance(message, msg.WorkerFailed):
                raise WorkerFailedError(message.message)
            assert isinstance(message, msg.RunLoaded), message
        except BaseException as exc:
            log.error(
                "run %s: its simulation process (pid %s) failed while the run was set up: %s",
                self.job.run_id,
                worker.pid,
                "no answer within the timeout" if isinstance(exc, WorkerTimeout) else exc,
            )
            worker.kill_soon()
            self._ended.set()
            raise
        if message.error is None:
            self._reading = True  # from now on the reader alone reaps the worker
            threading.Thread(
                target=self._read, name=f"run-{self.job.run_id[:8]}", daemon=True
            ).start()
        else:
            worker.kill_soon()
            self._ended.set()
        return message

    def call(self, method: str, **params: Any) -> Future[msg.Reply]:
        future: Future[msg.Reply] = Future()
        with self._lock:
            worker = self._worker
            if worker is None or self._ended.is_set():
                future.set_exception(WorkerDied(None))
                return future
            call_id = next(self._ids)
            self._calls[call_id] = future
        try:
            worker.send(msg.Call(call_id, method, params))
        except WorkerDied as exc:
            with self._lock:
                self._calls.pop(call_id, None)
            future.set_exception(exc)
        return future

    def _read(self) -> None:
        worker = self._worker
        assert worker is not None
        problem: Exception | None = None
        while True:
            try:
                message = worker.recv(None)
            except (WorkerDied, WorkerTimeout) as exc:
                problem = exc
                break
            try:
                self._dispatch(message)
            except Exception:  # a bug here must not stop the stream
                log.exception("handling a message of run %s failed", self.job.run_id)
        self._ended.set()
        with self._lock:
            pending, self._calls = self._calls, {}
            closing = self._closing
        for future in pending.values():
            if not future.done():
                future.set_exception(problem or WorkerDied(None))
        worker.kill()
        if not closing:
            log.error(
                "run %s: its simulation process (pid %s) ended: %s",
                self.job.run_id,
                worker.pid,
                problem or "it stopped reading",
            )
            self._on_died(problem or WorkerDied(None))

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, msg.RunChanged):
            self._on_change(message)
        elif isinstance(message, msg.Reply):
            with self._lock:
                future = self._calls.pop(message.call_id, None)
            if isinstance(message.value, msg.RunFinal):
                with self._lock:  # the worker ends after handing its run over
                    self._closing = True
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, msg.RunFinal):
            self._on_final(message)
        elif isinstance(message, msg.WorkerFailed):
            log.error("run %s: %s", self.job.run_id, message.message)

    def close(self) -> None:
        """End the worker now (the run's data is the manager's already)."""
        with self._lock:
            self._closing = True
            worker = self._worker
        if worker is None:
            return
        if self._reading:
            worker.stop()  # the reader sees the pipe close and reaps the worker
        else:
            worker.kill_soon()

    def wait_ended(self, timeout: float) -> bool:
        return self._ended.wait(timeout)
