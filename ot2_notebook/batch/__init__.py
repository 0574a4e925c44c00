"""Validate a whole protocol library from a notebook: ``ot2_notebook.batch.analyse(paths)``.

The kernel side never imports opentrons; this runs ``ot2-sim analyse`` (the simulator's
batch analysis, ``ot2_notebook.simulator.batch``) in the simulator's environment as a child
process, shows its progress as it goes (an ipywidgets bar in a notebook, a line of text
elsewhere) and returns the same DataFrame ``BatchResult.to_dataframe()`` gives there: one
row per protocol (``protocol``, ``ok``, ``error_type``, ``error_message``, ``error_file``,
``error_line``, ``pipettes``, ``labware``, ``modules``, ``estimated_duration``,
``analysis_seconds``, ...; ``ot2_notebook.simulator.batch.table``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ot2_notebook.batch.command import BatchError, build_command, run_batch, simulator_python
from ot2_notebook.batch.display import progress_display

if TYPE_CHECKING:
    import pandas

__all__ = ["BatchError", "analyse", "simulator_python"]


def analyse(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    jobs: int | None = None,
    dask: str | None = None,
    timeout: float = 60.0,
    max_api_level: str | None = None,
    memory_limit_mb: int | None = None,
    json: str | os.PathLike[str] | None = None,
    junit: str | os.PathLike[str] | None = None,
    progress: bool = True,
    python: str | None = None,
) -> pandas.DataFrame:
    """Analyse every protocol in ``paths`` (files, or folders searched for protocols) as the
    simulated robot's upload does, in parallel, and return one DataFrame row per protocol.

    ``jobs``: protocols at once (default: CPUs); ``dask``: ``"tcp://host:8786"`` or
    ``"local:N"``; ``timeout``: seconds per protocol before it counts as hung;
    ``max_api_level``: e.g. ``"2.11"`` to refuse what robot software 4.7 refuses; ``json`` /
    ``junit``: also write those reports; ``python``: the simulator environment's
    interpreter (default: ``simulator_python()``). The frame's ``attrs`` hold the batch's
    ``summary`` and ``meta``. A failing protocol is a row with ``ok`` False; ``BatchError``
    when the batch cannot run at all.
    """
    from ot2_notebook.simulator.batch.table import dataframe

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    interpreter = python or simulator_python()
    display = progress_display(progress)
    try:
        document = run_batch(
            lambda json_path: build_command(
                interpreter,
                list(paths),
                json_path,
                jobs=jobs,
                dask=dask,
                timeout=timeout,
                max_api_level=max_api_level,
                memory_limit_mb=memory_limit_mb,
                junit=junit,
            ),
            display,
            json_path=json,
        )
    finally:
        display.close()
    frame = dataframe(document["protocols"])
    frame.attrs["summary"] = document["summary"]
    frame.attrs["meta"] = document["meta"]
    return frame
