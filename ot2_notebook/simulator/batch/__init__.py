"""Batch analysis: check a whole protocol library at once (``ot2-sim analyse PATH ...``).

``analyse(paths, executor=None, jobs=None, dask=None, timeout=60, ...) -> BatchResult``
finds the protocols under ``paths`` (``discovery.py`` says which files are protocols and
which travel with each), analyses each exactly as ``POST /protocols`` on ot2-sim does, in
parallel on any ``concurrent.futures.Executor`` (a Dask cluster included), and returns the
results as a ``BatchResult`` (``.to_dataframe()``, ``.to_json()``, ``.to_junit()``).

Layout: ``discovery`` (inputs), ``task`` (what runs on an executor worker), ``hosts`` and
``host`` (the per-worker process that forks one simulation per protocol), ``executors``,
``run`` (``analyse``), ``results``, ``table`` (the DataFrame, shared with the kernel side),
``junit``, ``progress``, ``cli``. Needs opentrons (the simulator's environment); from a
notebook kernel without it use ``ot2_notebook.batch.analyse``, which runs ``ot2-sim
analyse`` there. Importing this package is cheap: its parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ot2_notebook.simulator.batch.discovery import DiscoveryError, ProtocolSource, discover
    from ot2_notebook.simulator.batch.executors import ExecutorSetupError
    from ot2_notebook.simulator.batch.results import BatchResult, ProtocolResult
    from ot2_notebook.simulator.batch.run import analyse

__all__ = [
    "BatchResult",
    "DiscoveryError",
    "ExecutorSetupError",
    "ProtocolResult",
    "ProtocolSource",
    "analyse",
    "discover",
]

_WHERE = {
    "analyse": "run",
    "BatchResult": "results",
    "ProtocolResult": "results",
    "discover": "discovery",
    "DiscoveryError": "discovery",
    "ProtocolSource": "discovery",
    "ExecutorSetupError": "executors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(f"ot2_notebook.simulator.batch.{module}"), name)
