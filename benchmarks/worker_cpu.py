"""What a job costs a worker process in CPU time, which the machine's load does not change.

``python -m benchmarks.worker_cpu [--jobs 20] [--pause 0.3] [--cold] [--immediate-refill]``
(from the repository root, in the simulator's environment). A ``WorkerPool`` whose
forkserver preloads ``_worker_cpu_preload.py`` runs the small protocol ``--jobs`` times,
``--pause`` s apart; each job is then run in this process by the same engine. Printed, as
medians: the job's wall time seen by the pool, its CPU time and page faults in the worker,
the CPU the worker spent before its job (start and warm-up), and the in-process engine's CPU
and wall time. ``--cold``: spares that do not warm up; ``--immediate-refill``: replacements
forked at ``acquire()``, as before the refill waited for jobs to end.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.protocols import standard


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_cpu")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.3)
    parser.add_argument("--cold", action="store_true", help="spares that do not warm up")
    parser.add_argument("--immediate-refill", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ot2-bench-cpu-"))
    os.environ["OT_API_CONFIG_DIR"] = str(work / "opentrons-config")
    folder = work / "protocol"
    folder.mkdir()
    (folder / "protocol.py").write_text(standard("small").source)

    from ot2_notebook.simulator.workers import compat, engine, messages, pool

    compat.apply_all()
    pool._PRELOAD = [pool.PRELOAD_FIRST, "benchmarks._worker_cpu_preload", pool.PRELOAD_LAST]
    if args.immediate_refill:
        pool.REFILL_DELAY = 0.0
    workers = pool.WorkerPool(spares=2, warm_spares=not args.cold)
    workers.start(wait=True)
    job = messages.Job(messages.ANALYSE, str(folder), "protocol.py")
    rows: list[dict[str, float]] = []
    try:
        for _ in range(args.jobs):
            time.sleep(args.pause)  # a workload pattern (spaced jobs), not synchronisation
            started = time.perf_counter()
            result = pool.run_to_result(workers.acquire(), job, 60, messages.JobResult)
            wall = time.perf_counter() - started
            if result.errors:
                raise SystemExit(f"the job failed: {result.errors}")
            here, path = os.getcwd(), list(sys.path)
            cpu, local = time.process_time(), time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                engine.run_job(job, messages.Nowhere())
            local_cpu, local = time.process_time() - cpu, time.perf_counter() - local
            os.chdir(here)
            sys.path[:] = path
            rows.append({**result.metadata["_cpu"], "wall": wall, "local_cpu": local_cpu,
                         "local": local})  # fmt: skip
    finally:
        workers.shutdown()

    def ms(name: str) -> str:
        return f"{statistics.median(row[name] for row in rows) * 1000:.1f} ms"

    faults = statistics.median(row["faults"] for row in rows)
    print(
        f"worker: wall {ms('wall')}, CPU {ms('cpu')}, {faults:.0f} page faults, CPU before "
        f"the job {ms('cpu_before')}; in-process engine: CPU {ms('local_cpu')}, wall "
        f"{ms('local')}; load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
