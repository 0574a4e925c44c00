"""``analyse()``: find the protocols, analyse them in parallel on an executor, collect results."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timezone
from typing import Any

from ot2_notebook.simulator.batch.discovery import (
    BundleError,
    ProtocolSource,
    discover,
    read_bundle,
)
from ot2_notebook.simulator.batch.executors import describe, executor_for
from ot2_notebook.simulator.batch.progress import ProgressOption, make_progress
from ot2_notebook.simulator.batch.results import ERROR, FAILED, BatchResult, ProtocolResult
from ot2_notebook.simulator.batch.task import AnalysisOptions, analyse_bundle


def analyse(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    executor: Any = None,
    *,
    jobs: int | None = None,
    dask: str | None = None,
    timeout: float = 60.0,
    max_api_level: tuple[int, int] | str | None = None,
    memory_limit_mb: int = 2048,
    progress: ProgressOption = None,
    pool: str = "threads",
) -> BatchResult:
    """Analyse every protocol in ``paths`` (files, or folders searched for protocols) the way
    ``POST /protocols`` on ot2-sim does, each in a process of its own, in parallel.

    ``executor``: any ``concurrent.futures.Executor`` or a ``distributed.Client`` (left
    running); or ``dask="tcp://host:8786"`` / ``"local:N"``; default: ``jobs`` threads
    (one per CPU) sharing one warm analysis host. ``timeout``: seconds per protocol before
    it counts as hung; ``max_api_level``: refuse newer protocols as a robot does (``"2.11"``
    for robot software 4.7); ``memory_limit_mb``: each protocol's memory bound;
    ``progress``: see ``progress.py``; ``pool``: the default executor, ``"threads"`` or
    ``"processes"`` (a host per process). Raises ``DiscoveryError`` when a path does not
    exist or holds no protocol, ``ExecutorSetupError`` when the executor cannot be set up,
    ``ValueError`` for bad options; a protocol that fails, hangs or crashes is a result,
    not an exception.

    Each executor worker process starts its analysis host on first use (about 2 s: opentrons
    is imported once) and keeps it warm for later batches; it ends with that process (in
    this one: at exit, or ``ot2_notebook.simulator.batch.hosts.stop_hosts()``).
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be greater than 0, not {timeout}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    options = AnalysisOptions(
        timeout=float(timeout),
        max_api_level=_api_level(max_api_level),
        memory_limit_mb=int(memory_limit_mb),
    )
    sources = discover(paths)
    reporter = make_progress(progress)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    results: list[ProtocolResult | None] = [None] * len(sources)
    opentrons: str | None = None
    reporter.start(len(sources))

    def finish(index: int, result: ProtocolResult) -> None:
        results[index] = result
        reporter.advance(result)

    try:
        with executor_for(executor, jobs=jobs, dask=dask, pool=pool) as chosen:
            description = describe(chosen)
            pending: dict[Future[dict[str, Any]], int] = {}
            for index, source in enumerate(sources):
                try:
                    bundle = read_bundle(source)
                except (BundleError, OSError) as exc:
                    finish(
                        index,
                        ProtocolResult.not_analysed(source, FAILED, "UploadRefused", str(exc)),
                    )
                    continue
                pending[chosen.submit(analyse_bundle, bundle, options)] = index
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    result, version = _collect(sources[index], future)
                    opentrons = opentrons or version
                    finish(index, result)
    finally:
        reporter.close()
    return BatchResult(
        results=tuple(r for r in results if r is not None),
        seconds=time.perf_counter() - clock,
        executor=description,
        options=options,
        started_at=started_at,
        opentrons=opentrons,
    )


def _collect(source: ProtocolSource, future: Future[dict[str, Any]]) -> tuple[ProtocolResult, Any]:
    try:
        outcome = future.result()
    except Exception as exc:  # the executor lost the task (its worker died, ...)
        return (
            ProtocolResult.not_analysed(
                source,
                ERROR,
                "ExecutorError",
                f"the executor failed the task: {type(exc).__name__}: {exc}",
            ),
            None,
        )
    return ProtocolResult.from_outcome(source, outcome), outcome.get("opentrons")


def _api_level(value: tuple[int, int] | str | None) -> tuple[int, int] | None:
    if value is None or isinstance(value, tuple):
        return value
    major, dot, minor = str(value).partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ValueError(f"max_api_level must look like '2.11', not {value!r}")
    return int(major), int(minor)
