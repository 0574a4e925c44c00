"""The executor a batch runs on: the caller's, a Dask cluster, or a local pool.

Any ``concurrent.futures.Executor`` works (a ``ThreadPoolExecutor``, a
``ProcessPoolExecutor``, ``distributed.Client(...).get_executor()``); a
``distributed.Client`` itself is used through its ``get_executor()``. Executors the caller
passes are the caller's: the batch never shuts them down. ``dask=`` names a scheduler
instead: ``"tcp://host:8786"`` (an existing cluster: its workers need ``ot2-notebook[sim]``
installed) or ``"local"``/``"local:N"`` (a ``distributed.LocalCluster`` of N single-threaded
worker processes, started for this batch and closed after it).

Without either, the batch uses a local pool of ``jobs`` threads (default: the number of
CPUs). Threads suffice because an executor worker only ships the bundle to its analysis
host and waits: the simulation runs in a process forked per protocol. One process's
threads share one host, hence one opentrons import, where a pool of N processes would
start N hosts (``pool="processes"`` gives that, for comparison).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ot2_notebook.simulator.batch.hosts import stop_hosts


class ExecutorSetupError(RuntimeError):
    """The requested executor cannot be set up (Dask missing, scheduler unreachable...)."""


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and hasattr(obj, "get_executor")


def describe(executor: Executor) -> str:
    name = type(executor).__name__
    workers = getattr(executor, "_max_workers", None)
    if workers is not None:
        return f"{name}({workers})"
    client = getattr(executor, "_client", None)
    if client is not None:
        return f"dask {getattr(client.scheduler, 'address', client)}"
    return name


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ExecutorSetupError(
            "Dask is not installed in this environment: pip install 'ot2-notebook[dask]' "
            "(or 'distributed') next to the simulator, then try again."
        ) from None
    return distributed


def parse_local(dask: str, jobs: int | None) -> int | None:
    """``"local"`` -> jobs (or the CPU count), ``"local:3"``/``"local[3]"`` -> 3; ``None``
    when ``dask`` names a scheduler rather than a local cluster."""
    if dask == "local":
        return jobs or default_jobs()
    for prefix, suffix in (("local:", ""), ("local[", "]")):
        if dask.startswith(prefix) and dask.endswith(suffix):
            count = dask[len(prefix) : len(dask) - len(suffix)]
            if not count.isdigit() or int(count) < 1:
                raise ExecutorSetupError(
                    f"--dask local:N needs a worker count N >= 1, not {dask!r}"
                )
            return int(count)
    return None


@contextmanager
def dask_executor(dask: str, jobs: int | None = None) -> Iterator[Executor]:
    """An executor on the Dask scheduler ``dask`` (see the module docstring)."""
    distributed = _import_distributed()
    workers = parse_local(dask, jobs)
    cluster = None
    try:
        if workers is not None:
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(dask, timeout="30s")
    except (OSError, ValueError) as exc:  # unreachable; not an address ("missing port")
        if cluster is not None:
            cluster.close()
        raise ExecutorSetupError(
            f"Cannot reach the Dask scheduler at {dask!r}: {exc}. Give its address "
            "(tcp://host:8786), or local:N for a cluster of N workers on this machine."
        ) from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def executor_for(
    executor: Any = None,
    *,
    jobs: int | None = None,
    dask: str | None = None,
    pool: str = "threads",
) -> Iterator[Executor]:
    """The executor for one batch, shut down after it when the batch started it."""
    if executor is not None and dask is not None:
        raise ExecutorSetupError("give an executor or a Dask scheduler, not both")
    if jobs is not None and jobs < 1:
        raise ExecutorSetupError(f"jobs must be at least 1, not {jobs}")
    if executor is not None:
        if _is_dask_client(executor):
            yield executor.get_executor(pure=False)
        elif isinstance(executor, Executor):
            yield executor
        else:
            raise ExecutorSetupError(
                "executor must be a concurrent.futures.Executor or a distributed.Client, "
                f"not {type(executor).__name__}"
            )
        return
    if dask is not None:
        with dask_executor(dask, jobs) as found:
            yield found
        return
    count = jobs or default_jobs()
    own: Executor
    if pool == "threads":
        own = ThreadPoolExecutor(count, thread_name_prefix="ot2-batch")
    elif pool == "processes":
        own = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    else:
        raise ExecutorSetupError(f"pool must be 'threads' or 'processes', not {pool!r}")
    try:
        yield own
    except BaseException:  # interrupted: do not wait for the protocols under way
        own.shutdown(wait=False, cancel_futures=True)
        if pool == "threads":
            stop_hosts()  # ends their analyses, so the pool's threads return at once
        raise
    own.shutdown(wait=True)
