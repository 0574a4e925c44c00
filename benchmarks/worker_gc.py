"""What ``gc.freeze()`` after a spare's warm-up saves a job (``process.freeze_what_is_loaded``).

``python -m benchmarks.worker_gc [--pairs 40] [--size small|500|3500] [--v8]`` (from the
repository root, in the simulator's environment). This process imports what a worker
forkserver preloads (``workers/preload.py``, or ``preload_v8.py`` with ``--v8``, then
``preloaded.py``, which freezes it all), then forks one child per job, as the forkserver
does: the child warms up (``process.warm_up``, or
``serve_v8.warm_up``), freezes or not, and analyses the protocol once. The two variants
alternate pair by pair (the first of each pair alternating too), so both see the same
machine. Printed, as medians per variant: the job's wall time, the cycle collections during
it and the time they took (``gc.callbacks``). Every job's result is checked (4.x: no error and as
many steps as the protocol has commands; software 8: the analysis finished), or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.protocols import standard


class _CollectorClock:
    """Counts cycle collections and the time spent in them (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.collections = 0
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.seconds += time.perf_counter() - self._started


def _job_4x(folder: Path, commands: int) -> Callable[[], None]:
    from ot2_notebook.simulator.workers import engine, messages

    def job() -> None:
        result = engine.run_job(
            messages.Job(messages.ANALYSE, str(folder), "protocol.py"), messages.Nowhere()
        )
        if result.errors or result.step_count != commands:
            raise RuntimeError(
                f"the job failed: {result.errors}, {result.step_count} of {commands} steps"
            )

    return job


def _job_v8(folder: Path) -> Callable[[], None]:
    from ot2_notebook.simulator.workers import engine_v8
    from ot2_notebook.simulator.workers import messages_v8 as msg
    from ot2_notebook.simulator.workers.messages import Nowhere

    class Keep(Nowhere):
        """A channel to no one that keeps what the job sends (its last message is the end)."""

        def __init__(self) -> None:
            self.sent: list[object] = []

        def send(self, obj: Any) -> None:
            self.sent.append(obj)

    def job() -> None:
        channel = Keep()
        asyncio.run(
            engine_v8.analyse(
                msg.AnalyseJob(directory=str(folder), files=("protocol.py",)), channel
            )
        )
        if not channel.sent or not isinstance(channel.sent[-1], msg.AnalysisDone):
            raise RuntimeError(f"the analysis did not finish: {channel.sent[-1:]}")

    return job


def _child(freeze: bool, warm_up: Callable[[], None], job: Callable[[], None], out: int) -> None:
    """In the forked child: warm up, freeze or not, time one job, write the figures, exit."""
    code = 0
    try:
        warm_up()
        if freeze:
            gc.freeze()
        clock = _CollectorClock()
        gc.callbacks.append(clock)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            started = time.perf_counter()
            job()
            seconds = time.perf_counter() - started
        gc.callbacks.remove(clock)
        os.write(out, f"{seconds} {clock.collections} {clock.seconds}\n".encode())
    except BaseException as error:  # reported to the parent, which fails the run
        os.write(out, f"error {type(error).__name__}: {error}\n".encode())
        code = 1
    finally:
        os._exit(code)


def _one(freeze: bool, warm_up: Callable[[], None], job: Callable[[], None]) -> list[float]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(freeze, warm_up, job, write)
    os.close(write)
    with os.fdopen(read) as pipe:
        line = pipe.read()
    os.waitpid(pid, 0)
    if line.startswith("error") or not line:
        raise SystemExit(f"a job failed in its child: {line or 'no answer'}")
    return [float(value) for value in line.split()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_gc")
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--size", choices=("small", "500", "3500"), default="small")
    parser.add_argument("--v8", action="store_true", help="the software-8 worker's analysis")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ot2-bench-gc-"))
    os.environ["OT_API_CONFIG_DIR"] = str(work / "opentrons-config")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in a worker (one_thread.py)
    folder = work / "protocol"
    folder.mkdir()
    protocol = standard(args.size)
    (folder / "protocol.py").write_text(protocol.source)

    if args.v8:
        import ot2_notebook.simulator.workers.preload_v8
        from ot2_notebook.simulator.workers import serve_v8

        warm_up, job = serve_v8.warm_up, _job_v8(folder)
    else:
        import ot2_notebook.simulator.workers.preload
        from ot2_notebook.simulator.workers import process

        warm_up, job = process.warm_up, _job_4x(folder, protocol.commands)

    import ot2_notebook.simulator.workers.preloaded  # noqa: F401  (last, as the forkservers)

    figures: dict[bool, list[list[float]]] = {False: [], True: []}
    for pair in range(args.pairs):
        for freeze in (False, True) if pair % 2 == 0 else (True, False):
            figures[freeze].append(_one(freeze, warm_up, job))
    kind = "software 8" if args.v8 else "4.x"
    print(f"{kind} worker, {args.size} protocol, {args.pairs} pairs (medians):")
    for freeze in (False, True):
        seconds, collections, in_gc = (
            statistics.median(c) for c in zip(*figures[freeze], strict=True)
        )
        label = "gc.freeze() after warm-up" if freeze else "no freeze               "
        print(
            f"  {label}  job {seconds * 1000:7.2f} ms   "
            f"collections {collections:4.0f}   in them {in_gc * 1000:6.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
