"""Where the time goes between an HTTP upload and in-process ``opentrons.simulate``.

The same protocol, measured layer by layer in one run, the layers alternating repetition by
repetition so all see the same load:

1. ``simulate``: ``opentrons.simulate.simulate()`` in this process (the baseline);
2. ``engine``: the simulator's engine (``workers/engine.run_job``) in this process: what it
   does beyond simulate (step events, duration estimates, equipment);
3. ``worker``: the same job in a worker process of a ``WorkerPool`` started here (forkserver,
   warm spares; a fresh process per job): what one process per job costs;
4. ``upload``: ``POST /protocols`` to the shared simulator (multipart, files written, worker
   analysis, JSON answer), the file named anew each time so the analysis cache never
   answers;
5. ``upload + delete``: what the ``analysis`` benchmark times;
6. ``health``: ``GET /health``, the floor of one HTTP round trip with this client.

The differences between consecutive layers (medians) are the breakdown written in
``benchmarks/README.md``. Layers are spaced by ``PAUSE`` s, as a user's requests are: every
job of a worker pool is followed by the fork and warm-up of its replacement (``pool.py``),
CPU that back to back (the ``analysis`` benchmark) lands on whatever runs next. The small
protocol is measured a second time with no pause ("back to back", as the ``analysis``
benchmark times it): it tells whether what back to back adds lies in the worker pool or in
the HTTP request.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.analysis import simulate_in_process
from benchmarks.harness import Bench, BenchmarkError, summary_ms, timed
from benchmarks.protocols import standard

NAME = "gap"
TITLE = "Where the time goes: in-process simulate -> engine -> worker process -> HTTP"

PAUSE = 0.3
LAYERS = ("simulate", "engine", "worker", "upload", "upload + delete", "health")


def _engine_in_process(folder: Path, name: str) -> int:
    from ot2_notebook.simulator.workers import engine, messages

    here, path = os.getcwd(), list(sys.path)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = engine.run_job(
                messages.Job(messages.ANALYSE, str(folder), name), messages.Nowhere()
            )
    finally:
        os.chdir(here)
        sys.path[:] = path
    if result.errors:
        raise BenchmarkError(f"engine: {result.errors}")
    return result.step_count


def measure(bench: Bench, size: str, reps: int, pause: float = PAUSE) -> dict[str, list[float]]:
    from ot2_notebook.simulator.analysis import Analyzer
    from ot2_notebook.simulator.workers import compat
    from ot2_notebook.simulator.workers.pool import WorkerPool

    compat.apply_all()
    protocol = standard(size)
    folder = bench.workdir / f"gap_{size}"
    folder.mkdir(exist_ok=True)
    path = folder / "protocol.py"
    path.write_text(protocol.source)
    robot = bench.robot()
    pool = WorkerPool(spares=2)
    pool.start(wait=True)
    analyzer = Analyzer(pool, timeout=120, concurrency=2)

    def worker() -> None:
        analysis = analyzer.analyse(folder, "protocol.py")
        if analysis.errors:
            raise BenchmarkError(f"worker: {analysis.errors}")

    def upload(delete: bool) -> Callable[[], None]:
        def act() -> None:
            protocol_id = bench.unique_id(f"gap_{size}")
            robot.upload(protocol_id, protocol.data)
            if delete:
                robot.delete_protocol(protocol_id)
            else:
                uploaded.append(protocol_id)

        return act

    uploaded: list[str] = []
    actions: dict[str, Callable[[], object]] = {
        "simulate": lambda: simulate_in_process(path),
        "engine": lambda: _engine_in_process(folder, "protocol.py"),
        "worker": worker,
        "upload": upload(delete=False),
        "upload + delete": upload(delete=True),
        "health": lambda: robot.get("/health"),
    }
    times: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    try:
        for action in actions.values():  # warm every layer once
            action()
        for rep in range(reps):
            order = LAYERS if rep % 2 == 0 else tuple(reversed(LAYERS))
            for layer in order:
                times[layer].append(timed(actions[layer])[0])
                for protocol_id in uploaded:  # untimed: the upload layer's clean-up
                    robot.delete_protocol(protocol_id)
                uploaded.clear()
                if pause:
                    time.sleep(pause)  # a workload pattern (spaced requests), not synchronisation
    finally:
        pool.shutdown()
    return times


def run(bench: Bench) -> None:
    options = bench.options
    for size, reps in (("small", options.reps(30, 8, 3)), ("500", options.reps(7, 3, 2))):
        times = measure(bench, size, reps)
        medians = {layer: statistics.median(times[layer]) * 1000 for layer in LAYERS}
        for layer in LAYERS:
            bench.record(
                NAME, f"{size}: {layer} p50", medians[layer], "ms", samples=summary_ms(times[layer])
            )
        steps = [
            ("engine beyond simulate", medians["engine"] - medians["simulate"]),
            ("worker process beyond engine", medians["worker"] - medians["engine"]),
            ("HTTP upload beyond worker", medians["upload"] - medians["worker"]),
            ("DELETE", medians["upload + delete"] - medians["upload"]),
        ]
        for label, value in steps:
            bench.record(NAME, f"{size}: {label}", value, "ms")
        bench.record(
            NAME,
            f"{size}: upload / simulate",
            medians["upload"] / medians["simulate"],
            "x",
        )
    back_to_back(bench, options.reps(30, 8, 3))


def back_to_back(bench: Bench, reps: int) -> None:
    """The small protocol's layers with no pause between them."""
    times = measure(bench, "small", reps, pause=0.0)
    medians = {layer: statistics.median(times[layer]) * 1000 for layer in LAYERS}
    for layer in ("simulate", "worker", "upload", "health"):
        bench.record(
            NAME,
            f"small, back to back: {layer} p50",
            medians[layer],
            "ms",
            samples=summary_ms(times[layer]),
        )
    for layer in ("worker", "upload"):
        bench.record(
            NAME,
            f"small, back to back: {layer} / simulate",
            medians[layer] / medians["simulate"],
            "x",
        )
