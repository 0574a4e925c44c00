"""Protocol analysis: simulate a protocol in a worker and describe what it needs.

The result feeds the protocol resource (required equipment, metadata, errors, an
estimated run time) and a session's load (its step events). Anything that stops a worker
(a timeout, ``os._exit``, running out of memory) becomes an analysis error, never a
server failure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ot2_notebook.simulator.workers import messages
from ot2_notebook.simulator.workers.messages import JobMode, JobResult, ProbeJob, ProbeResult, Step
from ot2_notebook.simulator.workers.pool import WorkerDied, WorkerPool, WorkerTimeout, run_to_result

EMPTY_EQUIPMENT: dict[str, list[Any]] = {"pipettes": [], "labware": [], "modules": []}

#: The opentrons releases the simulator is tested with, lowest and highest.
TESTED_OPENTRONS = ("8.0.0", "8.8.2")


@dataclass(frozen=True)
class Analysis:
    metadata: dict[str, Any]
    equipment: dict[str, list[Any]]
    errors: list[dict[str, Any]]
    #: Step events in the order they happened.
    steps: tuple[Step, ...] = ()
    step_count: int = 0
    estimated_duration: float | None = None
    output: str = ""
    #: False for a failure of the simulator around the protocol (a timeout, a worker that
    #: died): it depends on the machine at that moment, so it is not kept (analysis_cache.py)
    cacheable: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    @classmethod
    def from_result(cls, result: JobResult) -> Analysis:
        errors = list(result.errors)
        return cls(
            metadata=dict(result.metadata),
            equipment=EMPTY_EQUIPMENT if errors else dict(result.equipment or EMPTY_EQUIPMENT),
            errors=errors,
            steps=result.steps,
            step_count=result.step_count,
            estimated_duration=None if errors else round(result.estimated_duration, 3),
            output=result.output,
        )

    @classmethod
    def failed(cls, error_type: str, description: str) -> Analysis:
        return cls(
            metadata={"name": None, "author": None, "apiLevel": None},
            equipment=EMPTY_EQUIPMENT,
            errors=[{"type": error_type, "description": description}],
            cacheable=False,
        )


def timeout_error(seconds: float) -> tuple[str, str]:
    return (
        "AnalysisTimeout",
        f"The protocol did not finish simulating within {seconds:g} s, so it was stopped. "
        "Look for a loop that never ends (or start ot2-sim with a longer --analysis-timeout).",
    )


def crash_error(exc: WorkerDied) -> tuple[str, str]:
    return (
        "SimulationProcessExited",
        f"Simulating the protocol ended abruptly: {exc}. A protocol must not call os._exit() "
        "or use more memory than the simulator allows.",
    )


class UnsupportedOpentrons(RuntimeError):
    """The workers' opentrons lacks internals the simulator needs (``workers/internals.py``)."""

    def __init__(self, probe: ProbeResult) -> None:
        lowest, highest = TESTED_OPENTRONS
        lines = "\n".join(f"  - {item}" for item in probe.missing)
        super().__init__(
            f"ot2-sim cannot simulate with opentrons {probe.opentrons_version} (Python "
            f"{probe.python}): it lacks what the simulated robot relies on:\n{lines}\n"
            f"ot2-sim is tested with opentrons {lowest} to {highest}; install one of those in "
            f"the simulator's environment (pip install 'opentrons>={lowest},<={highest}')."
        )
        self.probe = probe


class Analyzer:
    """Runs analyses on the worker pool, at most ``concurrency`` at a time."""

    def __init__(
        self,
        pool: WorkerPool,
        *,
        timeout: float,
        concurrency: int,
        max_api_level: tuple[int, int] | None = None,
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.max_api_level = max_api_level
        self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def analyse(
        self, directory: Path, protocol_file: str, mode: JobMode = messages.ANALYSE
    ) -> Analysis:
        """Blocking: call from a thread, not the event loop."""
        job = messages.Job(mode, str(directory), protocol_file, max_api_level=self.max_api_level)
        with self._slots:
            worker = self.pool.acquire()
            try:
                result = run_to_result(worker, job, self.timeout, JobResult)
            except WorkerTimeout:
                return Analysis.failed(*timeout_error(self.timeout))
            except WorkerDied as exc:
                return Analysis.failed(*crash_error(exc))
        return Analysis.from_result(result)

    def probe(self) -> ProbeResult:
        """What the workers' opentrons is, and which of the internals it lacks; raises
        ``UnsupportedOpentrons`` when it lacks any."""
        result = run_to_result(self.pool.acquire(), ProbeJob(), self.timeout, ProbeResult)
        if result.missing:
            raise UnsupportedOpentrons(result)
        return result
