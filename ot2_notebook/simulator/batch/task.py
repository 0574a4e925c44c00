"""The per-protocol task that a batch submits to its executor.

``analyse_bundle`` is what runs in an executor's worker (a pool thread, a pool process, a
Dask worker, on this machine or another): it hands the bundle to this process's analysis
host (``hosts.py``), which analyses it in a freshly forked process, with a timeout and a
memory bound. So the executor's worker never runs user code: a protocol that loops
forever, calls ``os._exit`` or exhausts memory costs only its own process, and the worker
goes on with the next protocol. Arguments and result are plain picklable data.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from ot2_notebook.simulator.batch.discovery import Bundle
from ot2_notebook.simulator.batch.hosts import HostError, HostSettings, shared_host

#: ``outcome["kind"]``: the protocol was analysed (with or without errors) ...
ANALYSED = "analysed"
#: ... or the analysis machinery failed, so nothing is known about the protocol.
HOST_ERROR = "host-error"


@dataclass(frozen=True)
class AnalysisOptions:
    """What every protocol of a batch is analysed with (the simulator's settings)."""

    #: Seconds a protocol may take before it counts as hung (``--analysis-timeout``).
    timeout: float = 60.0
    #: Refuse protocols above this API level, as a real robot does (4.7: ``(2, 11)``).
    max_api_level: tuple[int, int] | None = None
    #: Memory bound of each protocol's process, MB (as the simulator's workers).
    memory_limit_mb: int = 2048
    #: Processes each host forks ahead of time, as the simulator does ...
    spares: int = 2
    #: ... without the simulator's warm-up run: in a batch every core is busy, and the
    #: warm-up costs about twice the CPU it saves (benchmarks/README.md).
    warm_spares: bool = False


def analyse_bundle(bundle: Bundle, options: AnalysisOptions) -> dict[str, Any]:
    """Analyse one protocol bundle; a plain dict (see ``results.ProtocolResult``)."""
    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        host = shared_host(
            HostSettings(options.memory_limit_mb, options.spares, options.warm_spares)
        )
        outcome = host.analyse(
            bundle.protocol_file, bundle.files, options.timeout, options.max_api_level
        )
    except HostError as exc:
        return {
            "kind": HOST_ERROR,
            "message": str(exc),
            "worker": worker,
            "seconds": time.perf_counter() - started,
        }
    return {**outcome, "kind": ANALYSED, "worker": worker, "opentrons": host.info.get("opentrons")}
