"""The names a protocol can load: labware load names, pipette names, module models.

They come from the definitions in ``opentrons-shared-data`` (a data package of JSON files,
the same definitions robots and the simulation load). Only its files are read: the package's
Python code is never imported (``importlib.util.find_spec`` locates it), so the kernel
imports neither it nor ``opentrons``. Each list is read once, on first use (the labware
list is a directory listing, about 150 names). Without the package the lists are empty and
the error messages simply carry no suggestion.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from pathlib import Path

__all__ = ["labware_load_names", "module_models", "pipette_names", "shared_data_root"]

log = logging.getLogger("ot2_notebook.magics")


@functools.lru_cache(maxsize=1)
def shared_data_root() -> Path | None:
    """The ``data`` folder of the installed ``opentrons-shared-data`` (``None`` if absent)."""
    try:
        spec = importlib.util.find_spec("opentrons_shared_data")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        data = Path(location) / "data"
        if data.is_dir():
            return data
    return None


@functools.lru_cache(maxsize=1)
def labware_load_names() -> tuple[str, ...]:
    """Every standard labware load name (``corning_96_wellplate_360ul_flat`` ...)."""
    root = shared_data_root()
    if root is None:
        return ()
    names: set[str] = set()
    for schema in ("2", "3"):
        folder = root / "labware" / "definitions" / schema
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir() if p.is_dir())
    return tuple(sorted(names))


@functools.lru_cache(maxsize=1)
def pipette_names() -> tuple[str, ...]:
    """Every pipette load name (``p300_single_gen2`` ...)."""
    root = shared_data_root()
    if root is None:
        return ()
    specs = root / "pipette" / "definitions" / "1" / "pipetteNameSpecs.json"
    try:
        data = json.loads(specs.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("pipette names unreadable (%s): no suggestions", exc)
        return ()
    return tuple(sorted(str(name) for name in data)) if isinstance(data, dict) else ()


@functools.lru_cache(maxsize=1)
def module_models() -> tuple[str, ...]:
    """Every module model (``magneticModuleV2``, ``temperatureModuleV2`` ...)."""
    root = shared_data_root()
    if root is None:
        return ()
    folder = root / "module" / "definitions" / "3"
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob("*.json")))
