"""Batch analysis of a protocol library against serial in-process ``opentrons.simulate``.

The library is ``corpus.py``'s: 62 protocols in 7 folders with helper modules, CSV/JSON data
and a custom labware definition (2 of them fail on purpose). Measured side by side, in this
order, ``--repeat`` times:

* **serial in-process simulate**: ``opentrons.simulate.simulate()`` of every protocol, one
  after another, in this process (opentrons imported and run once before; each protocol
  with its folder as current folder, on ``sys.path`` and as ``custom_data_paths``, the
  labware folder as ``custom_labware_paths``; helper modules forgotten between protocols
  so each sees its own folder's);
* **batch, 1 and 2 workers**: ``ot2_notebook.simulator.batch.analyse(library, jobs=N)``,
  the default executor (threads sharing this process's warm analysis host, one forked
  process per protocol); the host is started by a warm-up batch before timing;
* **batch on a Dask LocalCluster** of 2 single-threaded worker processes, through
  ``analyse(library, executor=client)``; the cluster is started (for this measurement
  only, so that it does not weigh on the others) and its workers' hosts warmed by a first
  batch before timing.

* **two serial simulate processes at once**, each taking half of the library, no batch
  machinery at all: what two workers can give on this machine at that moment (less than 2x
  when other work shares the cores), the ceiling to read the batch figures by.

Every batch result must equal the serial run's: the same protocols pass, with as many
steps as ``simulate()`` logs commands, and the failing ones fail with the same exception
type. Speed-up = serial seconds / batch seconds of the same repetition (median over
repetitions). Goal (issue 15): 2 workers, and the same through Dask, at least 1.7x.

Also measured once, cold (what a CI job pays), each in a new process: ``ot2-sim analyse
LIBRARY --jobs 2`` from process start to exit, and a script that imports opentrons and
simulates the library serially.

Runnable alone: ``python -m benchmarks.batch [--repeat N] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.corpus import CorpusProtocol, write_library
from benchmarks.harness import Bench, BenchmarkError, Goal, Options

NAME = "batch"
TITLE = "Batch analysis of a 62-protocol library: 1 and 2 workers, Dask, vs serial simulate"

SPEEDUP_GOAL = Goal(">=", 1.7, "x")


# -- the serial reference ----------------------------------------------------------------------


def _labware_folder(folder: Path) -> bool:
    for path in folder.glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "wells" in data and "parameters" in data:
                return True
    return False


def _forget_modules(folder: Path) -> None:
    """Helper modules imported from ``folder`` (each folder has its own)."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).parent == folder:
            del sys.modules[name]


def simulate_one(path: Path, labware: bool) -> tuple[bool, int | str]:
    """``simulate()`` one protocol here: ``(True, commands)`` or ``(False, exception type)``."""
    from opentrons import simulate

    folder = path.parent
    here = os.getcwd()
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    chatter = io.StringIO()
    try:
        with (
            path.open(encoding="utf-8") as handle,
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
        ):
            runlog, _bundle = simulate.simulate(
                handle,
                file_name=path.name,
                custom_labware_paths=[str(folder)] if labware else None,
                custom_data_paths=[str(folder)],
            )
        return True, len(runlog)
    except Exception as exc:
        original = getattr(exc, "original_exc", None) or exc
        return False, type(original).__name__
    finally:
        sys.path.remove(str(folder))
        os.chdir(here)
        _forget_modules(folder)


def serial(protocols: Sequence[CorpusProtocol]) -> tuple[float, dict[str, tuple[bool, Any]]]:
    labware = {p.path.parent: _labware_folder(p.path.parent) for p in protocols}
    started = time.perf_counter()
    outcomes = {str(p.path): simulate_one(p.path, labware[p.path.parent]) for p in protocols}
    return time.perf_counter() - started, outcomes


def check_equal(
    protocols: Sequence[CorpusProtocol], reference: dict[str, tuple[bool, Any]], result: Any
) -> list[str]:
    """How ``result`` (a BatchResult) differs from the serial run (empty: equal)."""
    problems = []
    for protocol in protocols:
        ok, detail = reference[str(protocol.path)]
        got = result[str(protocol.path.resolve())]
        if ok != got.ok:
            problems.append(f"{got.protocol}: serial ok={ok} ({detail}), batch {got.outcome}")
        elif ok and got.steps != detail:
            problems.append(f"{got.protocol}: {detail} commands serially, {got.steps} in batch")
        elif not ok and (got.error or {}).get("type") != detail:
            found = (got.error or {}).get("type")
            problems.append(f"{got.protocol}: serial {detail}, batch {found}")
        if protocol.fails_with is not None and ok:
            problems.append(f"{got.protocol}: expected to fail with {protocol.fails_with}")
    return problems


def dask_batch(paths: list[str]) -> Any:
    """The batch on a fresh ``LocalCluster`` of 2 workers, timed once its hosts are warm.

    The cluster lives only for this measurement: its scheduler's thread in this process
    and its idle workers must not weigh on the serial and local measurements.
    """
    import distributed

    from ot2_notebook.simulator.batch import analyse

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        analyse(paths[:4], executor=client, progress=False)  # starts both workers' hosts
        return analyse(paths, executor=client, progress=False)


# -- what two cores give right now -------------------------------------------------------------

_HALF_SCRIPT = """
import sys, time
from pathlib import Path
from benchmarks.batch import serial, simulate_one
from benchmarks.corpus import CorpusProtocol
from ot2_notebook.simulator.workers import compat
compat.apply_all()
protocols = [CorpusProtocol(Path(p)) for p in sys.argv[1:]]
simulate_one(protocols[0].path, False)
print("ready", flush=True)
sys.stdin.readline()
serial(protocols)
print("done", flush=True)
"""


def parallel_serial(protocols: Sequence[CorpusProtocol]) -> float:
    """Two processes, each simulating half of the library serially in-process (warm), at once.

    No batch machinery at all: what two workers could give on this machine at this moment
    (on a machine shared with other work, less than 2x), the ceiling to read the batch by.
    """
    halves = [protocols[0::2], protocols[1::2]]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _HALF_SCRIPT, *(str(p.path) for p in half)],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for half in halves
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise BenchmarkError("a serial simulate process did not start")
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "done":
                raise BenchmarkError("a serial simulate process failed")
        return time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.wait(timeout=60)


# -- cold runs, each in a new process ----------------------------------------------------------

_SERIAL_SCRIPT = """
import sys, time
started = time.perf_counter()
from benchmarks.batch import serial
from benchmarks.corpus import CorpusProtocol
from ot2_notebook.simulator.workers import compat
compat.apply_all()
from pathlib import Path
paths = [CorpusProtocol(Path(p)) for p in sys.argv[1:]]
serial(paths)
"""


def cold_serial(protocols: Sequence[CorpusProtocol], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _SERIAL_SCRIPT, *(str(p.path) for p in protocols)],
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=1800,
    )
    return time.perf_counter() - started


def cold_batch(root: Path, jobs: int, env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "ot2_notebook.simulator", "analyse", str(root), "--jobs", str(jobs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 1:  # two protocols fail on purpose
        raise BenchmarkError(
            f"ot2-sim analyse exited with {completed.returncode}: {completed.stderr[-500:]!r}"
        )
    return seconds


# -- the benchmark -----------------------------------------------------------------------------


def run(bench: Bench) -> None:
    from ot2_notebook.simulator.batch import BatchResult, analyse
    from ot2_notebook.simulator.workers import compat

    compat.apply_all()  # the same opentrons shim the simulator's workers apply
    root = bench.workdir / "library"
    protocols = write_library(root)
    if bench.options.quick:
        protocols = protocols[::3]
        bench.note("--quick: the batch benchmark analyses every third protocol of the library")
    paths = [str(p.path) for p in protocols]
    reps = bench.options.reps(2, 1)
    results: dict[str, BatchResult] = {}

    # warm both sides once: opentrons in this process, this process's analysis host
    simulate_one(protocols[0].path, False)
    analyse(paths[:2], jobs=2, progress=False)
    times: dict[str, list[float]] = {"serial": [], "1": [], "2": [], "dask": [], "ceiling": []}
    for rep in range(reps):
        # every other repetition in reverse order, so that load drifts hit all alike
        order = ["serial", "2", "ceiling", "1", "dask"]
        reference: dict[str, tuple[bool, Any]] = {}
        for label in order if rep % 2 == 0 else order[::-1]:
            if label == "serial":
                seconds, reference = serial(protocols)
                times["serial"].append(seconds)
            elif label == "ceiling":
                times[label].append(parallel_serial(protocols))
            elif label == "dask":
                results[label] = dask_batch(paths)
                times[label].append(results[label].seconds)
            else:
                results[label] = analyse(paths, jobs=int(label), progress=False)
                times[label].append(results[label].seconds)
        for label, result in results.items():
            problems = check_equal(protocols, reference, result)
            if problems:
                raise BenchmarkError(f"batch ({label}) differs: " + "; ".join(problems[:5]))

    count = len(protocols)
    serial_s = statistics.median(times["serial"])
    bench.record(
        NAME,
        f"serial in-process simulate, {count} protocols",
        serial_s,
        "s",
        per_protocol_ms=round(serial_s / count * 1000, 1),
        samples=times["serial"],
    )
    labels = {"1": "batch, 1 worker", "2": "batch, 2 workers", "dask": "batch, Dask 2 workers"}
    for key, label in labels.items():
        seconds = statistics.median(times[key])
        speedups = [s / b for s, b in zip(times["serial"], times[key], strict=True)]
        bench.record(NAME, f"{label}, {count} protocols", seconds, "s", samples=times[key])
        bench.record(
            NAME,
            f"{label} speed-up vs serial",
            statistics.median(speedups),
            "x",
            None if key == "1" else SPEEDUP_GOAL,
            speedups=[round(s, 3) for s in speedups],
            results_equal=True,
        )
    ceilings = [s / c for s, c in zip(times["serial"], times["ceiling"], strict=True)]
    bench.record(
        NAME,
        "two serial simulate processes at once (what 2 cores give now) vs serial",
        statistics.median(ceilings),
        "x",
        speedups=[round(c, 3) for c in ceilings],
    )
    relative = [c / b for c, b in zip(times["ceiling"], times["2"], strict=True)]
    bench.record(
        NAME,
        "batch, 2 workers vs two serial simulate processes at once",
        statistics.median(relative),
        "x",
        ratios=[round(r, 3) for r in relative],
    )
    overheads = [(b - s) / count for s, b in zip(times["serial"], times["1"], strict=True)]
    bench.record(
        NAME,
        "batch, 1 worker: time per protocol beyond serial simulate",
        statistics.median(overheads) * 1000,
        "ms",
    )
    bench.note(f"batch results equal serial simulate for all {count} protocols in every run")

    if bench.options.quick:
        bench.note("--quick: no cold runs")
        return
    env = dict(os.environ)
    cold_b = cold_batch(root, 2, env)
    cold_s = cold_serial(protocols, env)
    bench.record(NAME, "cold: ot2-sim analyse --jobs 2 (new process)", cold_b, "s")
    bench.record(NAME, "cold: import opentrons + serial simulate (new process)", cold_s, "s")
    bench.record(NAME, "cold speed-up", cold_s / cold_b, "x")


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import harness

    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=TITLE)
    parser.add_argument("--repeat", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=harness.RESULTS_DIR / "batch.json")
    args = parser.parse_args(argv)
    meta = harness.environment()
    meta["benchmarks"] = [NAME]
    started = time.perf_counter()
    with harness.Bench(Options(repeat=args.repeat, quick=args.quick, json_path=args.json)) as bench:
        with harness.section(TITLE):
            run(bench)
        meta["duration_s"] = round(time.perf_counter() - started, 1)
        with contextlib.suppress(OSError):
            meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print("\n" + harness.table(bench.results))
        harness.write_json(args.json, bench.results, bench.notes, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
