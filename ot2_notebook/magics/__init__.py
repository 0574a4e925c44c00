"""The IPython extension: ``%load_ext ot2_notebook`` registers the ``%ot2_*`` magics.

``%ot2_connect``, ``%%ot2_support``, ``%%ot2_protocol``, ``%ot2_upload``, ``%ot2_run``,
``%ot2_status`` and ``%ot2_cleanup`` (see :class:`~ot2_notebook.magics.extension.OT2Magics`).
Nothing is registered at import: only :func:`load_ipython_extension` does, and
:func:`unload_ipython_extension` stops what the extension started (a simulated robot, live
panels and their feed threads).

Underneath: :mod:`.extension` (the magics and their settings), :mod:`.connection` (the
kernel's robots and the simulated robots' life), :mod:`.flow` (uploads, runs, following a
run under way, cleanup) over :mod:`.robotops` (each step on the robot) and :mod:`.slots`
(making room on a full robot), :mod:`.ledger` (what this notebook made, across kernel
restarts), and plain Python for the bundle (:mod:`.bundle`, :mod:`.cellmap`, :mod:`.cells`,
:mod:`.checks`) and for helpful errors (:mod:`.advice`, :mod:`.catalogue`); :mod:`.display`
builds what a cell shows, :mod:`.errors` the exceptions a failing cell shows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ot2_notebook.magics.errors import (
        BundleCheckError,
        CellProblem,
        OT2MagicError,
        ProtocolCellError,
        RobotRequestError,
    )
    from ot2_notebook.magics.extension import OT2Magics
    from ot2_notebook.magics.robotops import CellAnalysisError, CellRunError

__all__ = [
    "BundleCheckError",
    "CellAnalysisError",
    "CellProblem",
    "CellRunError",
    "OT2MagicError",
    "OT2Magics",
    "ProtocolCellError",
    "RobotRequestError",
    "load_ipython_extension",
    "unload_ipython_extension",
]

_LAZY = {
    "BundleCheckError": "ot2_notebook.magics.errors",
    "CellProblem": "ot2_notebook.magics.errors",
    "OT2MagicError": "ot2_notebook.magics.errors",
    "ProtocolCellError": "ot2_notebook.magics.errors",
    "RobotRequestError": "ot2_notebook.magics.errors",
    "CellAnalysisError": "ot2_notebook.magics.robotops",
    "CellRunError": "ot2_notebook.magics.robotops",
    "OT2Magics": "ot2_notebook.magics.extension",
}

# shell id -> the magics instance loaded into it
_loaded: dict[int, OT2Magics] = {}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ot2_notebook.magics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython`` and make ``%config OT2Magics...`` work."""
    from ot2_notebook.magics.extension import OT2Magics

    if id(ipython) in _loaded:  # loaded twice without unloading: keep the first
        return
    magics = OT2Magics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    magics.install()
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Stop what the extension started and remove its magics from ``ipython``."""
    magics = _loaded.pop(id(ipython), None)
    if magics is None:
        return
    try:
        magics.shutdown()
    finally:
        manager = ipython.magics_manager
        for kind, names in magics.magics.items():
            table = manager.magics.get(kind, {})
            for name in names:
                table.pop(name, None)
        manager.registry.pop(type(magics).__name__, None)
        if magics in ipython.configurables:
            ipython.configurables.remove(magics)
