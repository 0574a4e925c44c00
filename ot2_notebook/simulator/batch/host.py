"""The analysis host: a warm process that analyses protocol bundles for one executor worker.

An executor's worker (a thread of a pool, a process of a pool, a Dask worker, which is a
daemonic process that may not fork multiprocessing children) never runs or forks for user
code itself: it starts one host with ``subprocess`` (allowed anywhere) and sends it
bundles. The host is the simulator's own machinery, unchanged: a ``WorkerPool`` whose
forkserver has imported opentrons once, and the ``Analyzer`` that ``POST /protocols`` uses,
so every protocol is analysed in a freshly forked process, with the same timeout, memory
bound and error reports as an upload, and a batch result equals the upload's analysis.

Run as ``python -c "...host import main; main()" --fd N`` (``hosts.py``; ``python -m``
works too, but makes every forked worker re-run this module): ``N`` is a connected socket
(``multiprocessing.connection`` framing). The host answers requests concurrently and exits
when that socket closes (its executor worker ended, however it ended) or on ``("stop",)``.
It leads its own process group, so on its way out it takes the forkserver and any worker
still running down with it.

Before it says it is ready, the host has one worker report its opentrons version: an
environment without opentrons gets one clear error instead of a crashed worker per protocol.

Messages, plain picklable tuples. In: ``("analyse", id, protocol_file, files, timeout,
max_api_level)``, ``("stop",)``. Out: ``("ready", info)`` once warm (or ``("broken", why)``
and exit), then ``("result", id, outcome)`` or ``("failed", id, text)`` per request.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ot2_notebook.simulator.analysis import Analysis, Analyzer
from ot2_notebook.simulator.workers.pool import WorkerDied, WorkerPool, WorkerTimeout

ANALYSE = "analyse"
STOP = "stop"
READY = "ready"
BROKEN = "broken"
RESULT = "result"
FAILED = "failed"

#: Requests analysed at once by one host; an executor worker has fewer threads than this.
_MAX_CONCURRENT = 64
#: How long the start-up check of a worker (it imports nothing new) may take.
STARTUP_PROBE_TIMEOUT = 120.0


def protocol_fields(analysis: Analysis) -> dict[str, Any]:
    """The analysis fields of the protocol resource ``POST /protocols`` answers with
    (``StoredProtocol.to_json``): what a batch result must equal."""
    return {
        "requiredEquipment": analysis.equipment,
        "metadata": analysis.metadata,
        "errors": analysis.errors,
        "estimatedDuration": analysis.estimated_duration,
    }


class Host:
    def __init__(self, conn: Connection, pool: WorkerPool, workspace: Path) -> None:
        self.conn = conn
        self.pool = pool
        self.workspace = workspace
        self._send_lock = threading.Lock()
        self._threads = ThreadPoolExecutor(_MAX_CONCURRENT, thread_name_prefix="analyse")

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    def serve(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == STOP:
                return
            if message[0] == ANALYSE:
                self._threads.submit(self._answer, *message[1:])

    def _answer(
        self,
        request_id: int,
        protocol_file: str,
        files: Sequence[tuple[str, bytes]],
        timeout: float,
        max_api_level: tuple[int, int] | None,
    ) -> None:
        try:
            outcome = self.analyse(protocol_file, files, timeout, max_api_level)
        except Exception as exc:  # a bug of ours, reported for this protocol only
            reply: tuple[Any, ...] = (FAILED, request_id, f"{type(exc).__name__}: {exc}")
        else:
            reply = (RESULT, request_id, outcome)
        try:
            self.send(reply)
        except (OSError, EOFError):  # the executor worker is gone; serve() ends too
            pass

    def analyse(
        self,
        protocol_file: str,
        files: Sequence[tuple[str, bytes]],
        timeout: float,
        max_api_level: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """Write the bundle into a folder of its own (as an upload is) and analyse it."""
        folder = Path(tempfile.mkdtemp(prefix="protocol-", dir=self.workspace))
        try:
            for name, content in files:
                if Path(name).name != name or name in ("", ".", ".."):
                    raise ValueError(f"not a plain file name: {name!r}")
                (folder / name).write_bytes(content)
            analyzer = Analyzer(
                self.pool, timeout=timeout, concurrency=_MAX_CONCURRENT, max_api_level=max_api_level
            )
            started = time.perf_counter()
            analysis = analyzer.analyse(folder, protocol_file)
            seconds = time.perf_counter() - started
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {
            "analysis": protocol_fields(analysis),
            "steps": analysis.step_count,
            "output": analysis.output,
            "seconds": seconds,
        }

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.pool.shutdown()


def _info() -> dict[str, Any]:
    return {"pid": os.getpid(), "python": ".".join(map(str, sys.version_info[:3]))}


def _end_group() -> None:
    """Kill the forkserver and any worker still running (they share our process group)."""
    if os.getpgid(0) == os.getpid():  # only when we lead a group of our own
        os.killpg(os.getpid(), signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = argparse.ArgumentParser(prog="ot2_notebook.simulator.batch.host")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--memory-limit-mb", type=int, default=2048)
    parser.add_argument("--spares", type=int, default=2)
    parser.add_argument("--warm-spares", action="store_true")
    args = parser.parse_args(argv)
    if os.getpgid(0) != os.getpid():  # Python 3.10: hosts.py could not make our group
        os.setpgid(0, 0)
    conn = Connection(args.fd)
    # what a protocol writes to fd 1 or 2 must not reach the batch's terminal or protocol
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    pool = WorkerPool(
        spares=args.spares, memory_limit_mb=args.memory_limit_mb, warm_spares=args.warm_spares
    )
    workspace = Path(tempfile.mkdtemp(prefix="ot2-sim-batch-"))
    host = Host(conn, pool, workspace)
    try:
        pool.start(wait=True)  # the forkserver imports opentrons now, not at the first job
        try:  # a worker that cannot simulate (no opentrons) must not fail every protocol
            probe = Analyzer(pool, timeout=STARTUP_PROBE_TIMEOUT, concurrency=1).probe()
        except (WorkerDied, WorkerTimeout) as exc:
            host.send((BROKEN, f"its simulation workers cannot start: {exc}"))
            return 3
        host.send((READY, {**_info(), "opentrons": probe.opentrons_version}))
        host.serve()
    finally:
        host.close()
        shutil.rmtree(workspace, ignore_errors=True)
        sys.stderr.flush()
        _end_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
