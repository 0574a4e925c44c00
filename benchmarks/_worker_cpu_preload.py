"""Forkserver preload for ``benchmarks/worker_cpu.py``: the simulator's preload, plus a wrapper
around ``engine.run_job`` that adds the job's CPU time and page faults to its metadata."""

from __future__ import annotations

import dataclasses
import resource
import time
from typing import Any

import ot2_notebook.simulator.workers.preload  # noqa: F401
from ot2_notebook.simulator.workers import engine

_run_job = engine.run_job


def _measured(job: Any, channel: Any) -> Any:
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time()
    result = _run_job(job, channel)
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = time.process_time() - cpu
    figures = {
        "cpu": spent,
        "faults": after.ru_minflt - before.ru_minflt,
        "cpu_before": after.ru_utime + after.ru_stime - spent,
    }
    return dataclasses.replace(result, metadata={**result.metadata, "_cpu": figures})


engine.run_job = _measured
