"""Analysis over HTTP against in-process ``opentrons.simulate.simulate()`` of the same file.

HTTP: ``POST /protocols`` (upload + analysis in a warm worker process) then ``DELETE``, timed
end to end by a client on this machine. In-process: ``simulate()`` in this (warm) process,
opentrons already imported and run once. The two alternate, repetition by repetition, so
both see the same machine load; the ratio is the median of the per-repetition ratios.
Every upload names its file anew, so the analysis cache (which keys on names and bytes)
never answers: these are fresh analyses. Goals: HTTP within 1.5x of in-process for the small
protocol and 1.1x for ~500 commands (issue 15), 1.2x for ~3,500 (issues 2 and 8); a small
protocol analysed over HTTP in 50 ms or less (p50).
"""

from __future__ import annotations

import contextlib
import io
import statistics
from pathlib import Path
from typing import Any

from benchmarks.harness import Bench, BenchmarkError, Goal, summary_ms, timed
from benchmarks.protocols import GeneratedProtocol, standard

NAME = "analysis"
TITLE = "Analysis: HTTP upload+analysis+delete vs in-process opentrons.simulate"

RATIO_GOALS = {"small": Goal("<=", 1.5, "x"), "500": Goal("<=", 1.1, "x")}
RATIO_GOAL = Goal("<=", 1.2, "x")
SMALL_P50_GOAL = Goal("<=", 50, "ms")


def simulate_in_process(path: Path) -> int:
    """``opentrons.simulate.simulate()`` of ``path`` here; returns the run log's length.

    Its chatter (missing robot settings, deck calibration) goes to a buffer, not the table.
    """
    from opentrons import simulate

    chatter = io.StringIO()
    with (
        path.open() as handle,
        contextlib.redirect_stdout(chatter),
        contextlib.redirect_stderr(chatter),
    ):
        runlog, _bundle = simulate.simulate(handle, file_name=path.name)
    return len(runlog)


def compare(bench: Bench, size: str, reps: int) -> dict[str, Any]:
    """Time ``reps`` HTTP analyses and ``reps`` in-process simulations of one protocol."""
    protocol: GeneratedProtocol = standard(size)
    path = bench.workdir / f"{protocol.name}.py"
    path.write_text(protocol.source)
    robot = bench.robot()

    # warm both sides once: caches, connections, code paths
    commands = simulate_in_process(path)
    if commands != protocol.commands:
        raise BenchmarkError(
            f"{protocol.name}: simulate() logged {commands} commands, expected {protocol.commands}"
        )
    robot.analyse(bench.unique_id(protocol.name), protocol.data)

    http: list[float] = []
    local: list[float] = []
    for rep in range(reps):
        # alternate which side goes first, so neither always follows the other
        order = ("http", "local") if rep % 2 == 0 else ("local", "http")
        for side in order:
            if side == "http":
                seconds, _ = timed(
                    lambda: robot.analyse(bench.unique_id(protocol.name), protocol.data)
                )
                http.append(seconds)
            else:
                seconds, _ = timed(lambda: simulate_in_process(path))
                local.append(seconds)
    return {"commands": commands, "http": http, "local": local}


def run(bench: Bench) -> None:
    options = bench.options
    plan = [("small", options.reps(30, 10, 3)), ("500", options.reps(7, 3, 2))]
    if options.quick:
        bench.note("--quick: the ~3,500-command protocol is skipped")
    else:
        plan.append(("3500", options.reps(3, 1)))
    for size, reps in plan:
        measured = compare(bench, size, reps)
        http_p50 = statistics.median(measured["http"]) * 1000
        local_p50 = statistics.median(measured["local"]) * 1000
        label = f"{size} ({measured['commands']} commands)"
        bench.record(
            NAME,
            f"HTTP analysis p50, {label}",
            http_p50,
            "ms",
            SMALL_P50_GOAL if size == "small" else None,
            samples=summary_ms(measured["http"]),
        )
        bench.record(
            NAME,
            f"in-process simulate p50, {label}",
            local_p50,
            "ms",
            samples=summary_ms(measured["local"]),
        )
        # each repetition times both back to back, so the median of the per-repetition
        # ratios is steadier on a shared machine than the ratio of the two medians
        ratios = [h / loc for h, loc in zip(measured["http"], measured["local"], strict=True)]
        bench.record(
            NAME,
            f"HTTP / in-process, {label}",
            statistics.median(ratios),
            "x",
            RATIO_GOALS.get(size, RATIO_GOAL),
            reps=reps,
            ratio_of_medians=round(http_p50 / local_p50, 3),
            ratios=[round(r, 3) for r in ratios],
        )
