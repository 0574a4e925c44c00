"""Unchanged re-upload (answered by the analysis cache) against in-process ``opentrons.simulate``.

What a re-run notebook cell does on a 4.x robot: delete the protocol, upload the same files
again. The simulator answers the upload from its analysis cache (``analysis_cache.py``)
without a worker. Timed: the ``POST /protocols`` request alone (the re-upload), and the
``DELETE`` + ``POST`` cycle; against ``simulate()`` of the same file in this process,
alternating repetition by repetition so both see the same load. The simulator's
``GET /simulator/analysis-cache`` counters must show a hit and no worker job for every timed
re-upload, or the benchmark fails. Goals (issue 15): p50 at most 5 ms and at most 0.5x the
in-process simulate.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.analysis import simulate_in_process
from benchmarks.harness import Bench, BenchmarkError, Goal, Robot, summary_ms, timed
from benchmarks.protocols import standard

NAME = "reupload"
TITLE = "Unchanged re-upload (analysis cache) vs in-process opentrons.simulate"

P50_GOAL = Goal("<=", 5, "ms")
RATIO_GOAL = Goal("<=", 0.5, "x")


def counters(robot: Robot) -> dict[str, Any]:
    reply = robot.get("/simulator/analysis-cache")
    if reply.status_code != 200:
        raise BenchmarkError(f"/simulator/analysis-cache: {reply.status_code} {reply.text[:200]}")
    return dict(reply.json()["data"])


def run(bench: Bench) -> None:
    protocol = standard("small")
    path = bench.workdir / f"{protocol.name}_reupload.py"
    path.write_text(protocol.source)
    robot = bench.robot()
    protocol_id = bench.unique_id("reupload")
    first = robot.upload(protocol_id, protocol.data)  # analysed in a worker: the cache's entry
    simulate_in_process(path)
    reps = bench.options.reps(40, 10, 5)
    before = counters(robot)
    uploads: list[float] = []
    cycles: list[float] = []
    local: list[float] = []
    for rep in range(reps):
        order = ("http", "local") if rep % 2 == 0 else ("local", "http")
        for side in order:
            if side == "local":
                local.append(timed(lambda: simulate_in_process(path))[0])
                continue
            deleted, _ = timed(lambda: robot.delete_protocol(protocol_id))
            seconds, again = timed(lambda: robot.upload(protocol_id, protocol.data))
            uploads.append(seconds)
            cycles.append(deleted + seconds)
            if again["requiredEquipment"] != first["requiredEquipment"]:
                raise BenchmarkError("the re-upload's analysis differs from the first one")
    robot.delete_protocol(protocol_id)
    after = counters(robot)
    if after["workerJobs"] != before["workerJobs"] or after["hits"] - before["hits"] != reps:
        raise BenchmarkError(f"re-uploads used workers or missed the cache: {before} -> {after}")
    upload_p50 = statistics.median(uploads) * 1000
    local_p50 = statistics.median(local) * 1000
    bench.record(
        NAME,
        "re-upload p50 (POST answered)",
        upload_p50,
        "ms",
        P50_GOAL,
        samples=summary_ms(uploads),
    )
    bench.record(
        NAME, "delete + re-upload p50", statistics.median(cycles) * 1000, "ms",
        samples=summary_ms(cycles),
    )  # fmt: skip
    bench.record(NAME, "in-process simulate p50, small", local_p50, "ms", samples=summary_ms(local))
    ratios = [u / loc for u, loc in zip(uploads, local, strict=True)]
    bench.record(
        NAME,
        "re-upload / in-process simulate",
        statistics.median(ratios),
        "x",
        RATIO_GOAL,
        reps=reps,
        ratio_of_medians=round(upload_p50 / local_p50, 3),
    )
