"""A batch's per-protocol JSON records as a pandas DataFrame: the one definition of its columns.

Plain data only (pandas, no opentrons), so that the kernel side, which reads the JSON that
``ot2-sim analyse`` writes in the simulator's environment, builds exactly the DataFrame
that ``BatchResult.to_dataframe()`` builds there.

Columns: ``protocol`` (path relative to the current folder), ``ok``, ``error_type`` (the
Python exception, or ``AnalysisTimeout``/``SimulationProcessExited``/...), ``error_message``,
``error_file`` and ``error_line`` (where the first error is, in the protocol or a support
module), ``pipettes`` (``"p300_single_gen2 (right)"``), ``labware`` (``"load_name (slot)"``,
what the protocol loads; the fixed trash is left out), ``modules`` (``"model (slot)"``),
``estimated_duration`` (s of robot time), ``analysis_seconds`` (wall clock of the analysis),
``steps``, ``api_level``, ``name`` (``protocolName``), ``support_files``, ``path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

COLUMNS = (
    "protocol",
    "ok",
    "error_type",
    "error_message",
    "error_file",
    "error_line",
    "pipettes",
    "labware",
    "modules",
    "estimated_duration",
    "analysis_seconds",
    "steps",
    "api_level",
    "name",
    "support_files",
    "path",
)

_FIXED_TRASH_URI = "opentrons/opentrons_1_trash_1100ml_fixed/1"


def _equipment(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return (record.get("analysis") or {}).get("requiredEquipment") or {}


def row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One DataFrame row from one JSON record (``ProtocolResult.to_json()``)."""
    equipment = _equipment(record)
    error = record.get("error") or {}
    metadata = (record.get("analysis") or {}).get("metadata") or {}
    return {
        "protocol": record["protocol"],
        "ok": bool(record["ok"]),
        "error_type": error.get("type"),
        "error_message": error.get("message"),
        "error_file": error.get("file"),
        "error_line": error.get("line"),
        "pipettes": [f"{p['pipetteName']} ({p['mount']})" for p in equipment.get("pipettes", [])],
        "labware": [
            f"{lw['label']} ({lw['slot']})"
            for lw in equipment.get("labware", [])
            if not (lw.get("uri") == _FIXED_TRASH_URI and lw.get("slot") == 12)
        ],
        "modules": [f"{m['model']} ({m['slot']})" for m in equipment.get("modules", [])],
        "estimated_duration": record.get("estimatedDuration"),
        "analysis_seconds": record.get("analysisSeconds"),
        "steps": record.get("steps"),
        "api_level": metadata.get("apiLevel"),
        "name": metadata.get("name"),
        "support_files": list(record.get("supportFiles") or []),
        "path": record.get("path"),
    }


def dataframe(records: Iterable[Mapping[str, Any]]) -> pandas.DataFrame:
    """The batch as a DataFrame, one row per protocol in the batch's order."""
    import pandas

    frame = pandas.DataFrame([row(r) for r in records], columns=list(COLUMNS))
    frame["ok"] = frame["ok"].astype(bool)
    for column in ("error_line", "steps"):
        frame[column] = frame[column].astype("Int64")
    for column in ("estimated_duration", "analysis_seconds"):
        frame[column] = frame[column].astype("Float64")
    return frame
