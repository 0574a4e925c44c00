"""A cold ``opentrons_simulate`` process against the simulator's warm analysis (small protocol).

Cold: the ``opentrons_simulate`` console script of the installed opentrons, a new process per
protocol (interpreter start, ``import opentrons``, simulate, exit), timed from spawn to exit;
that is what analysing a protocol costs without a warm server. Warm: the simulator's
HTTP upload + analysis + delete of the same file. Goal (issue 8): warm at least 30x faster.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Bench, BenchmarkError, Goal, summary_ms, timed
from benchmarks.protocols import standard

NAME = "cold_start"
TITLE = "Cold opentrons_simulate process vs warm simulator analysis (small protocol)"

SPEEDUP_GOAL = Goal(">=", 30, "x")


def opentrons_simulate() -> str:
    """The ``opentrons_simulate`` script beside this interpreter (else on ``PATH``)."""
    beside = Path(sys.executable).with_name("opentrons_simulate")
    if beside.exists():
        return str(beside)
    found = shutil.which("opentrons_simulate")
    if found is None:
        raise BenchmarkError("opentrons_simulate is not installed (pip install 'opentrons<9')")
    return found


def run_cold(script: str, path: Path) -> None:
    completed = subprocess.run(
        [script, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(
            f"opentrons_simulate {path.name} exited with {completed.returncode}: "
            f"{completed.stderr.decode(errors='replace')[-500:]}"
        )


def run(bench: Bench) -> None:
    protocol = standard("small")
    path = bench.workdir / f"{protocol.name}.py"
    path.write_text(protocol.source)
    script = opentrons_simulate()
    robot = bench.robot()

    robot.analyse(bench.unique_id("cold_warmup"), protocol.data)
    warm = [
        timed(lambda: robot.analyse(bench.unique_id("warm"), protocol.data))[0]
        for _ in range(bench.options.reps(20, 5, 3))
    ]
    cold = [timed(lambda: run_cold(script, path))[0] for _ in range(bench.options.reps(3, 1))]

    cold_p50 = statistics.median(cold) * 1000
    warm_p50 = statistics.median(warm) * 1000
    bench.record(NAME, "cold opentrons_simulate, small", cold_p50, "ms", samples=summary_ms(cold))
    bench.record(NAME, "warm HTTP analysis, small", warm_p50, "ms", samples=summary_ms(warm))
    bench.record(NAME, "cold / warm", cold_p50 / warm_p50, "x", SPEEDUP_GOAL)
