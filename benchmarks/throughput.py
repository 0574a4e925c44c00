"""Throughput with 1, 4 and 16 concurrent clients, each uploading (= analysing) and deleting.

Each client is a thread with its own HTTP connection; every upload has a protocol id of its
own. A failed request, an unexpected status or an analysis error counts as an error.
Figures: analyses per second (wall clock, first request to last answer) and errors per
level. Goal (issue 8): zero errors under load.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from benchmarks.harness import Bench, BenchmarkError, Goal, Robot, summary_ms
from benchmarks.protocols import standard

NAME = "throughput"
TITLE = "Throughput: concurrent clients uploading + analysing + deleting (small protocol)"

ERRORS_GOAL = Goal("<=", 0)
LEVELS = (1, 4, 16)
#: analyses per client at each level (24, 48 and 64 in all; 8, 16 and 32 with --quick)
PER_CLIENT = {1: 24, 4: 12, 16: 4}
QUICK_PER_CLIENT = {1: 8, 4: 4, 16: 2}


def level(bench: Bench, clients: int, per_client: int) -> tuple[float, int, list[float], list[str]]:
    """Run one level; returns (wall seconds, errors, per-analysis seconds, error texts)."""
    source = standard("small").data
    latencies: list[float] = []
    problems: list[str] = []
    lock = threading.Lock()
    ids = [[bench.unique_id(f"tp{clients}") for _ in range(per_client)] for _ in range(clients)]
    start = threading.Barrier(clients)

    def client(mine: list[str]) -> None:
        with Robot(bench.sim.url) as robot:
            robot.get("/health")  # connect before the clock starts
            start.wait()
            for protocol_id in mine:
                began = time.perf_counter()
                try:
                    robot.analyse(protocol_id, source)
                except (BenchmarkError, requests.RequestException) as exc:
                    with lock:
                        problems.append(str(exc)[:300])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-client") as pool:
        for future in [pool.submit(client, mine) for mine in ids]:
            future.result()
    wall = time.perf_counter() - began
    return wall, len(problems), latencies, problems


def run(bench: Bench) -> None:
    robot = bench.robot()
    robot.analyse(bench.unique_id("tp_warmup"), standard("small").data)
    for clients in LEVELS:
        per_client = bench.options.reps(PER_CLIENT[clients], QUICK_PER_CLIENT[clients])
        wall, errors, latencies, problems = level(bench, clients, per_client)
        done = len(latencies)
        bench.record(
            NAME,
            f"{clients} client{'s' if clients > 1 else ''}: analyses/s",
            done / wall,
            "/s",
            analyses=done,
            wall_s=round(wall, 2),
            latency=summary_ms(latencies),
        )
        bench.record(
            NAME,
            f"{clients} client{'s' if clients > 1 else ''}: errors",
            errors,
            "",
            ERRORS_GOAL,
            first_errors=problems[:5],
        )
    leftover = robot.get("/protocols").json()["data"]
    if any(p["id"].startswith("tp") for p in leftover):
        bench.note(f"{len(leftover)} throughput protocols left on the robot after the run")
