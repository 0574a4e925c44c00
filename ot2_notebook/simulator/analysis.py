"""Protocol analysis: simulate a protocol in a worker and describe what it needs.

The result feeds the protocol resource (required equipment, metadata, errors, an
estimated run time) and a session's load (its step events). Anything that stops a worker
(a timeout, ``os._exit``, running out of memory) becomes an analysis error, never a
server failure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ot2_notebook.simulator.workers import messages
from ot2_notebook.simulator.workers.pool import WorkerDied, WorkerPool, WorkerTimeout, run_to_result

EMPTY_EQUIPMENT: dict[str, list[Any]] = {"pipettes": [], "labware": [], "modules": []}


@dataclass(frozen=True)
class Analysis:
    metadata: dict[str, Any]
    equipment: dict[str, list[Any]]
    errors: list[dict[str, Any]]
    #: Step events (``messages.step_start``/``step_end`` tuples) in the order they happened.
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    step_count: int = 0
    estimated_duration: float | None = None
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> Analysis:
        errors = list(result.get("errors") or [])
        return cls(
            metadata=dict(result.get("metadata") or {}),
            equipment=EMPTY_EQUIPMENT
            if errors
            else dict(result.get("equipment") or EMPTY_EQUIPMENT),
            errors=errors,
            steps=list(result.get("steps") or []),
            step_count=int(result.get("step_count") or 0),
            estimated_duration=(
                None if errors else round(float(result.get("estimated_duration") or 0), 3)
            ),
            output=str(result.get("output") or ""),
        )

    @classmethod
    def failed(cls, error_type: str, description: str) -> Analysis:
        return cls(
            metadata={"name": None, "author": None, "apiLevel": None},
            equipment=EMPTY_EQUIPMENT,
            errors=[{"type": error_type, "description": description}],
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
        self, directory: Path, protocol_file: str, mode: str = messages.ANALYSE
    ) -> Analysis:
        """Blocking: call from a thread, not the event loop."""
        with self._slots:
            worker = self.pool.acquire()
            try:
                result = run_to_result(
                    worker,
                    messages.job(
                        mode, str(directory), protocol_file, max_api_level=self.max_api_level
                    ),
                    self.timeout,
                )
            except WorkerTimeout:
                return Analysis.failed(*timeout_error(self.timeout))
            except WorkerDied as exc:
                return Analysis.failed(*crash_error(exc))
        return Analysis.from_result(result)

    def probe(self) -> dict[str, Any]:
        worker = self.pool.acquire()
        return run_to_result(worker, {"mode": messages.PROBE}, self.timeout)
