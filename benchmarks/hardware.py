"""What running the hardware simulator on the protocol's own thread saves (``inline_hardware.py``).

Two figures, each side by side in one run:

1. **One hardware call**: a coroutine that returns at once, run the way opentrons'
   ``ThreadManager`` runs every hardware call (``run_coroutine_threadsafe`` to a loop in
   another thread, then ``.result()``) against the way the worker runs it
   (``inline_hardware.run_here``: stepped on the calling thread). Plain asyncio, no opentrons.
2. **The same job**: the simulator's engine (``engine.run_job``) on the small and the
   500-command protocol, with opentrons' threaded hardware and with the inline hardware,
   alternating; the steps (with their structured data and estimates), the estimated duration and
   the equipment must be the same, or the benchmark fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness import Bench, BenchmarkError, summary_ms
from benchmarks.protocols import standard

NAME = "hardware"
TITLE = "Hardware calls: opentrons' hardware thread against the protocol's own thread"

CALLS = 3000


async def _returns_at_once() -> int:
    return 1


def _per_call_us(call: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count * 1e6


def call_round_trips(count: int) -> tuple[float, float]:
    """Microseconds per call: through a loop thread, and stepped here."""
    from ot2_notebook.simulator.workers.inline_hardware import run_here

    threaded = asyncio.new_event_loop()
    thread = threading.Thread(target=threaded.run_forever, daemon=True)
    thread.start()
    here = asyncio.new_event_loop()
    try:
        across = _per_call_us(
            lambda: asyncio.run_coroutine_threadsafe(_returns_at_once(), threaded).result(), count
        )
        inline = _per_call_us(lambda: run_here(here, _returns_at_once()), count)
    finally:
        threaded.call_soon_threadsafe(threaded.stop)
        thread.join(timeout=10)
        threaded.close()
        here.close()
    return across, inline


def _engine(folder: Path, inline: bool) -> tuple[object, ...]:
    """One engine job in this process; its steps (with their structured data and estimates)
    and its estimated duration."""
    from ot2_notebook.simulator.workers import engine, inline_hardware, messages

    here, path = os.getcwd(), list(sys.path)
    legacy_core = inline_hardware.legacy_core
    if not inline:  # what the engine did before: opentrons' own ThreadManager
        inline_hardware.legacy_core = lambda level: False  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = engine.run_job(
                messages.Job(messages.SIMULATE, str(folder), "protocol.py"), messages.Nowhere()
            )
    finally:
        inline_hardware.legacy_core = legacy_core  # type: ignore[assignment]
        os.chdir(here)
        sys.path[:] = path
    if result.errors:
        raise BenchmarkError(f"engine: {result.errors}")
    steps = tuple(
        (step.phase, step.index, step.name, step.text, step.depth, step.structured)
        for step in result.steps
    )
    return (*steps, result.estimated_duration, result.equipment)


def run(bench: Bench) -> None:
    from ot2_notebook.simulator.workers import compat

    compat.apply_all()
    across, inline = call_round_trips(bench.options.reps(CALLS, 300))
    bench.record(NAME, "hardware call through opentrons' loop thread", across, "us")
    bench.record(NAME, "hardware call on the protocol's thread", inline, "us")
    bench.record(NAME, "loop thread / protocol's thread, per call", across / inline, "x")
    for size, reps in (("small", bench.options.reps(20, 5)), ("500", bench.options.reps(5, 2))):
        folder = bench.workdir / f"hardware_{size}"
        folder.mkdir(exist_ok=True)
        (folder / "protocol.py").write_text(standard(size).source)
        if _engine(folder, inline=False) != _engine(folder, inline=True):  # also warms both
            raise BenchmarkError(f"{size}: the inline hardware changed the steps")
        times: dict[bool, list[float]] = {False: [], True: []}
        for rep in range(reps):
            for choice in (False, True) if rep % 2 == 0 else (True, False):
                started = time.perf_counter()
                _engine(folder, inline=choice)
                times[choice].append(time.perf_counter() - started)
        threaded_ms = statistics.median(times[False]) * 1000
        inline_ms = statistics.median(times[True]) * 1000
        bench.record(
            NAME,
            f"{size}: engine job, opentrons' hardware thread",
            threaded_ms,
            "ms",
            samples=summary_ms(times[False]),
        )
        bench.record(
            NAME,
            f"{size}: engine job, inline hardware",
            inline_ms,
            "ms",
            samples=summary_ms(times[True]),
        )
        bench.record(NAME, f"{size}: inline / threaded", inline_ms / threaded_ms, "x")
