"""Server memory after many upload/analyse/delete cycles: does the simulator leak?

A simulator of its own (so nothing else ran on it) does a few warm-up cycles, then memory
is read, then 500 cycles, then memory again. Memory is the RSS of the server process and
all its children (the forkserver and the spare workers; psutil), read when the pool is idle
(exactly the spare workers alive), so start and end compare like with like. USS (memory
unique to each process, without shared pages) is in the details. Goal (issue 8): growth of
at most 20 MB.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from benchmarks.harness import Bench, BenchmarkError, Goal
from benchmarks.protocols import standard
from ot2_notebook.simulator import SimulatorHandle

NAME = "memory"
TITLE = "Server memory (RSS, server + children) after upload/analyse/delete cycles"

GROWTH_GOAL = Goal("<=", 20, "MB")
SPARES = 2
MB = 1024 * 1024


def forkserver_of(server: psutil.Process) -> psutil.Process | None:
    for child in server.children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def wait_idle(server: psutil.Process, timeout: float = 30.0) -> None:
    """Wait until the worker pool holds exactly its spare workers (no job running)."""
    deadline = time.monotonic() + timeout
    while True:
        forkserver = forkserver_of(server)
        if forkserver is not None:
            workers = [w for w in forkserver.children() if w.is_running()]
            if len(workers) == SPARES and all(w.status() != psutil.STATUS_ZOMBIE for w in workers):
                return
        if time.monotonic() > deadline:
            raise BenchmarkError("the simulator's worker pool did not settle to its spares")
        time.sleep(0.05)


def memory(server: psutil.Process) -> dict[str, Any]:
    """RSS and USS of the server and of everything under it, in MB."""
    processes = [server, *server.children(recursive=True)]
    rss = uss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        uss += info.uss
    server_rss = server.memory_info().rss
    return {
        "processes": len(processes),
        "server_rss_mb": round(server_rss / MB, 2),
        "total_rss_mb": round(rss / MB, 2),
        "total_uss_mb": round(uss / MB, 2),
    }


def run(bench: Bench) -> None:
    handle = bench.start_simulator(spare_workers=SPARES)
    try:
        measure(bench, handle)
    finally:
        handle.stop()  # not left running beside the benchmarks that follow


def measure(bench: Bench, handle: SimulatorHandle) -> None:
    robot = bench.robot(handle)
    server = psutil.Process(handle.pid)
    source = standard("small").data
    cycles = bench.options.reps(500, 50, 10)

    for _ in range(bench.options.reps(20, 10, 5)):
        robot.analyse(bench.unique_id("mem_warmup"), source)
    wait_idle(server)
    before = memory(server)
    started = time.perf_counter()
    for _ in range(cycles):
        robot.analyse(bench.unique_id("mem"), source)
    elapsed = time.perf_counter() - started
    wait_idle(server)
    after = memory(server)
    left = robot.get("/protocols").json()["data"]
    if left:
        raise BenchmarkError(f"{len(left)} protocols left after upload/delete cycles")

    bench.record(
        NAME,
        f"RSS at start (after warm-up), {before['processes']} processes",
        before["total_rss_mb"],
        "MB",
        **before,
    )
    bench.record(
        NAME,
        f"RSS after {cycles} cycles",
        after["total_rss_mb"],
        "MB",
        **after,
        cycles_per_s=round(cycles / elapsed, 1),
    )
    bench.record(
        NAME,
        f"RSS growth over {cycles} cycles",
        after["total_rss_mb"] - before["total_rss_mb"],
        "MB",
        GROWTH_GOAL,
        server_rss_growth_mb=round(after["server_rss_mb"] - before["server_rss_mb"], 2),
        uss_growth_mb=round(after["total_uss_mb"] - before["total_uss_mb"], 2),
    )
