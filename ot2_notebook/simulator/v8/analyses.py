"""Protocol analyses of the software-8 robot: pending until their worker reports, then completed.

An analysis is one worker job (``workers/engine_v8.py``) that reports three times: the files
were read (or refused), the protocol loaded (or its own code failed: the analysis completes at
once, as robot-server's does during the upload request), and the analysis document. The
upload waits for the first two; the third completes the analysis in the background. A worker
that hangs past the timeout, crashes or exhausts its memory completes its analysis with an
error saying so; the server carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ot2_notebook.simulator.v8.clock import new_id, utc_now
from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers.pool import Worker, WorkerDied, WorkerPool, WorkerTimeout
from ot2_notebook.simulator.workers.pool_v8 import WorkerFailedError

log = logging.getLogger(__name__)


def simulator_error(error_type: str, detail: str, error_id: str = "internal-error") -> dict:
    """An error occurrence for what went wrong around the protocol (it hung, its process died)."""
    return {
        "id": error_id,
        "createdAt": utc_now(),
        "isDefined": False,
        "errorType": error_type,
        "errorCode": "4000",
        "detail": detail,
        "errorInfo": {},
        "wrappedErrors": [],
    }


def worker_problem(exc: Exception, timeout: float, what: str) -> dict:
    if isinstance(exc, WorkerTimeout):
        return simulator_error(
            "SimulationTimeout",
            f"The protocol did not finish {what} within {timeout:g} s (does it loop forever?). "
            "The simulated robot stopped it; fix the protocol, or start ot2-sim with a longer "
            "--analysis-timeout.",
        )
    if isinstance(exc, WorkerFailedError):
        return simulator_error(
            "SimulatorError",
            f"The simulator failed while {what} (not the protocol's fault): {exc}. Its log has "
            "the details; please report it.",
        )
    return simulator_error(
        "SimulationProcessDied",
        f"The protocol's simulation process ended while {what}: {exc}. Protocols must not "
        "exit the interpreter or exhaust memory.",
    )


class AnalysisJob:
    """The server's end of one analysis worker (used from one thread at a time)."""

    def __init__(self, pool: WorkerPool, job: msg.AnalyseJob, timeout: float) -> None:
        self.pool = pool
        self.job = job
        self.timeout = timeout
        self.worker: Worker | None = None

    def _next(self, what: str) -> Any:
        assert self.worker is not None
        try:
            message = self.worker.recv(self.timeout)
        except WorkerDied as exc:
            log.warning(
                "analysis of %s: its simulation process (pid %s) ended while %s: %s",
                self.job.directory,
                self.worker.pid,
                what,
                exc,
            )
            raise
        if isinstance(message, msg.WorkerFailed):
            log.error(
                "analysis of %s: its simulation process (pid %s) failed while %s: %s",
                self.job.directory,
                self.worker.pid,
                what,
                message.message,
            )
            raise WorkerFailedError(message.message)
        return message

    def read(self) -> msg.ProtocolRead:
        """Start the job; what the files are. Raises ``WorkerTimeout``/``WorkerDied``."""
        self.worker = self.pool.acquire()
        self.worker.send(self.job)
        message = self._next("reading the files")
        assert isinstance(message, msg.ProtocolRead), message
        return message

    def started(self) -> msg.AnalysisStarted:
        message = self._next("loading")
        assert isinstance(message, msg.AnalysisStarted), message
        return message

    def done(self) -> msg.AnalysisDone:
        message = self._next("analysing")
        assert isinstance(message, msg.AnalysisDone), message
        return message

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill_soon()


@dataclass
class AnalysisRecord:
    id: str
    protocol_id: str
    status: str = "pending"
    run_time_parameter_values: dict[str, Any] = field(default_factory=dict)
    run_time_parameters: list[dict[str, Any]] = field(default_factory=list)
    document: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: the summary as the request that started the analysis answers it
    started_summary: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status}

    def new_summary(self) -> dict[str, Any]:
        """The summary of an analysis the answering request started: as it was when it had
        loaded (pending, with its run-time parameters), or completed at once."""
        if self.started_summary:
            return dict(self.started_summary)
        return self.summary()

    def resource(self) -> dict[str, Any]:
        if self.document is None:
            return {"id": self.id, "status": "pending"}
        return {"id": self.id, "status": "completed", **self.document}


class AnalysisManager:
    """Every analysis of every protocol, and the worker jobs that produce them."""

    def __init__(
        self, pool: WorkerPool, *, timeout: float, max_api_level: tuple[int, int] | None = None
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.max_api_level = max_api_level
        self._records: dict[str, AnalysisRecord] = {}
        self._by_protocol: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------
    def summaries(self, protocol_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._records[a].summary() for a in self._by_protocol.get(protocol_id, [])]

    def resources(self, protocol_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._records[a].resource() for a in self._by_protocol.get(protocol_id, [])]

    def get(self, analysis_id: str) -> AnalysisRecord | None:
        with self._lock:
            return self._records.get(analysis_id)

    def latest(self, protocol_id: str) -> AnalysisRecord | None:
        with self._lock:
            ids = self._by_protocol.get(protocol_id) or []
            return self._records[ids[-1]] if ids else None

    # -- running ---------------------------------------------------------------------------------
    def new_job(
        self, directory: str, files: tuple[str, ...], values: dict[str, Any]
    ) -> AnalysisJob:
        job = msg.AnalyseJob(
            directory=directory,
            files=files,
            run_time_parameter_values=values,
            max_api_level=self.max_api_level,
        )
        return AnalysisJob(self.pool, job, self.timeout)

    def begin(
        self, protocol_id: str, job: AnalysisJob, on_change: Callable[[], None] | None = None
    ) -> AnalysisRecord:
        """Record a pending analysis for a job whose files were read; wait (blocking) until
        the protocol loaded, then let the analysis finish in the background."""
        record = AnalysisRecord(
            id=new_id(),
            protocol_id=protocol_id,
            run_time_parameter_values=job.job.run_time_parameter_values,
        )
        with self._lock:
            self._records[record.id] = record
            self._by_protocol.setdefault(protocol_id, []).append(record.id)
        try:
            started = job.started()
        except (WorkerTimeout, WorkerDied) as exc:
            job.close()
            self._complete(record, self._failed(worker_problem(exc, self.timeout, "loading")))
            return record
        record.run_time_parameters = started.run_time_parameters
        if started.error is not None:  # completed at once, as robot-server's failed set-up
            self._finish(record, job, None)
            return record
        record.started_summary = {
            "id": record.id,
            "status": "pending",
            "runTimeParameters": record.run_time_parameters,
        }
        threading.Thread(
            target=self._finish, args=(record, job, on_change), name="analysis", daemon=True
        ).start()
        return record

    def analyse(
        self, protocol_id: str, directory: str, files: tuple[str, ...], values: dict
    ) -> AnalysisRecord:
        """A new analysis of a stored protocol (blocking until it has loaded)."""
        job = self.new_job(directory, files, values)
        try:
            read = job.read()
        except (WorkerTimeout, WorkerDied) as exc:
            job.close()
            record = AnalysisRecord(id=new_id(), protocol_id=protocol_id)
            with self._lock:
                self._records[record.id] = record
                self._by_protocol.setdefault(protocol_id, []).append(record.id)
            self._complete(record, self._failed(worker_problem(exc, self.timeout, "reading")))
            return record
        if read.error is not None:  # the stored files no longer read (cannot happen normally)
            job.close()
            record = AnalysisRecord(id=new_id(), protocol_id=protocol_id)
            with self._lock:
                self._records[record.id] = record
                self._by_protocol.setdefault(protocol_id, []).append(record.id)
            self._complete(
                record, self._failed(simulator_error("ProtocolFilesInvalid", read.error))
            )
            return record
        return self.begin(protocol_id, job)

    def _finish(
        self, record: AnalysisRecord, job: AnalysisJob, on_change: Callable[[], None] | None
    ) -> None:
        try:
            document = job.done().analysis
        except (WorkerTimeout, WorkerDied) as exc:
            document = self._failed(worker_problem(exc, self.timeout, "analysing"))
        except Exception:  # a bug here must not leave the analysis pending forever
            log.exception("analysis %s failed", record.id)
            document = self._failed(simulator_error("UnexpectedError", "the analysis failed"))
        finally:
            job.close()
        self._complete(record, document)
        if on_change is not None:
            on_change()

    @staticmethod
    def _failed(error: dict[str, Any]) -> dict[str, Any]:
        return {
            "result": "not-ok",
            "robotType": msg.OT2_ROBOT_TYPE,
            "runTimeParameters": [],
            "commands": [],
            "labware": [],
            "pipettes": [],
            "modules": [],
            "liquids": [],
            "errors": [error],
        }

    def _complete(self, record: AnalysisRecord, document: dict[str, Any]) -> None:
        with self._lock:
            record.document = document
            record.status = "completed"
        record.done.set()

    def forget(self, protocol_id: str) -> None:
        with self._lock:
            for analysis_id in self._by_protocol.pop(protocol_id, []):
                self._records.pop(analysis_id, None)
