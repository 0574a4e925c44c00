"""A protocol of robot software 5+ and its analysis, as the protocol a 4.x robot describes.

Robot software 5+ names a protocol by UUID and describes it in two resources: the protocol
(``GET /protocols/{id}``: files, metadata, ``key``, analysis summaries) and its analysis
(``GET /protocols/{id}/analyses/{aid}``: commands, labware, pipettes, modules, liquids,
errors). :func:`protocol_json` joins them into the JSON of a 4.x protocol
(``{id, protocolFile, supportFiles, metadata, requiredEquipment, errors, ...}``) that
:class:`~ot2_notebook.client.ProtocolData` reads, so the equipment panel, the deck view and
the magics see one shape:

* ``id`` is the protocol's name for this client: the name its packed upload's key records
  (:class:`~ot2_notebook.client.packing.BundleKey`), else its main file's name without
  ``.py`` (a protocol the Opentrons App uploaded); ``robotId`` is the robot's UUID;
* ``supportFiles`` are the files embedded in it (from the key) or sent beside it;
* ``requiredEquipment`` comes from the analysis: labware at their deck slot (on a module:
  the module's slot), modules with their type, pipettes with their channels, and the
  liquids the protocol loads (API 2.14+);
* ``errors`` are the analysis errors placed in the bundle's own files and lines
  (:mod:`ot2_notebook.client.errors_v8`).

Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ot2_notebook.client.commands_v8 import Deck, display_names, pipette_channels
from ot2_notebook.client.errors_v8 import error_info
from ot2_notebook.client.models import ProtocolErrorInfo
from ot2_notebook.client.packing import BundleKey
from ot2_notebook.names import protocol_id_for

__all__ = [
    "analysis_id",
    "error_json",
    "latest_analysis",
    "main_file",
    "protocol_json",
    "protocol_name",
    "rejected_json",
]

_MODULE_TYPES = {
    "magneticModule": "magneticModuleType",
    "temperatureModule": "temperatureModuleType",
    "thermocyclerModule": "thermocyclerModuleType",
    "heaterShakerModule": "heaterShakerModuleType",
    "magneticBlock": "magneticBlockType",
    "absorbanceReader": "absorbanceReaderType",
}


def main_file(resource: Mapping[str, Any]) -> str:
    """The protocol's main file name (role ``main``)."""
    for item in resource.get("files") or []:
        if isinstance(item, Mapping) and item.get("role") == "main":
            return str(item.get("name") or "")
    return ""


def protocol_name(resource: Mapping[str, Any]) -> str:
    """The protocol's name for this client (see the module doc)."""
    key = BundleKey.parse(resource.get("key"))
    if key is not None:
        return key.name
    name = main_file(resource)
    return protocol_id_for(name) if name else str(resource.get("id") or "")


def analysis_id(resource: Mapping[str, Any]) -> str | None:
    """The id of the protocol's latest analysis (``None`` if it has none)."""
    summaries = resource.get("analysisSummaries")
    if isinstance(summaries, list) and summaries and isinstance(summaries[-1], Mapping):
        found = summaries[-1].get("id")
        return str(found) if found else None
    return None


def latest_analysis(resource: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The latest analysis summary (``{id, status}``), if any."""
    summaries = resource.get("analysisSummaries")
    if isinstance(summaries, list) and summaries and isinstance(summaries[-1], Mapping):
        return summaries[-1]
    return None


def error_json(info: ProtocolErrorInfo) -> dict[str, Any]:
    """A :class:`ProtocolErrorInfo` as a 4.x ``errors`` item."""
    data: dict[str, Any] = {"type": info.type, "description": info.description}
    if info.line is not None:
        data["lineNumber"] = info.line
    if info.file:
        data["fileName"] = info.file
    if info.exception_type:
        data["exceptionType"] = info.exception_type
    return data


def _module_type(model: str) -> str:
    for prefix, kind in _MODULE_TYPES.items():
        if model.startswith(prefix):
            return kind
    return model


def _equipment(analysis: Mapping[str, Any]) -> dict[str, Any]:
    commands = [c for c in analysis.get("commands") or [] if isinstance(c, Mapping)]
    deck = Deck.of(analysis, display_names(commands))
    pipettes = [
        {
            "mount": str(p.get("mount") or ""),
            "requestedAs": str(p.get("pipetteName") or ""),
            "pipetteName": str(p.get("pipetteName") or ""),
            "channels": pipette_channels(str(p.get("pipetteName") or "")),
        }
        for p in deck.pipettes.values()
    ]
    labware = []
    for item in deck.labware.values():
        slot = deck.slot_of(item.get("location"))
        labware.append(
            {
                "label": str(item.get("loadName") or ""),
                "uri": str(item.get("definitionUri") or ""),
                "slot": slot,
                "location": slot,
                "displayName": item.get("displayName"),
            }
        )
    modules = []
    for item in deck.modules.values():
        model = str(item.get("model") or "")
        slot = deck.slot_of(item.get("location"))
        modules.append(
            {"type": _module_type(model), "model": model, "slot": slot, "location": slot}
        )
    return {
        "pipettes": pipettes,
        "labware": labware,
        "modules": modules,
        "liquids": _liquids(analysis, commands, deck),
    }


def _liquids(
    analysis: Mapping[str, Any], commands: Sequence[Mapping[str, Any]], deck: Deck
) -> list[dict[str, Any]]:
    liquids: dict[str, dict[str, Any]] = {}
    for item in analysis.get("liquids") or []:
        if isinstance(item, Mapping) and item.get("id") is not None:
            liquids[str(item["id"])] = {
                "displayName": str(item.get("displayName") or item["id"]),
                "description": str(item.get("description") or ""),
                "displayColor": item.get("displayColor"),
                "wells": [],
            }
    for command in commands:
        if command.get("commandType") != "loadLiquid":
            continue
        params = command.get("params")
        if not isinstance(params, Mapping):
            continue
        liquid = liquids.get(str(params.get("liquidId")))
        volumes = params.get("volumeByWell")
        if liquid is None or not isinstance(volumes, Mapping):
            continue
        for well, volume in volumes.items():
            place = deck.place(params.get("labwareId"), well)
            liquid["wells"].append(
                {
                    "slot": place.slot if place else None,
                    "labware": place.load_name if place else "",
                    "well": str(well),
                    "volume": volume,
                }
            )
    return list(liquids.values())


def protocol_json(
    resource: Mapping[str, Any], analysis: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A protocol resource and its (completed) analysis as a 4.x protocol's JSON (see the
    module doc); ``analysis`` ``None``: not analysed yet (no equipment, no errors)."""
    key = BundleKey.parse(resource.get("key"))
    main = main_file(resource)
    others = [
        str(f.get("name"))
        for f in resource.get("files") or []
        if isinstance(f, Mapping) and f.get("role") != "main" and f.get("name")
    ]
    support = list(key.files) if key is not None and key.files else others
    errors = [
        error_json(error_info(e, main, key))
        for e in (analysis or {}).get("errors") or []
        if isinstance(e, Mapping)
    ]
    summary = latest_analysis(resource) or {}
    return {
        "id": protocol_name(resource),
        "robotId": resource.get("id"),
        "protocolFile": {"basename": main},
        "supportFiles": [{"basename": name} for name in support],
        "createdAt": resource.get("createdAt"),
        "lastModifiedAt": resource.get("createdAt"),
        "metadata": dict(resource.get("metadata") or {}),
        "requiredEquipment": _equipment(analysis) if analysis is not None else {},
        "errors": errors,
        "protocolType": resource.get("protocolType"),
        "analysisStatus": (analysis or summary).get("status"),
        "analysisResult": (analysis or {}).get("result"),
        "robot": {"protocol": dict(resource), "analysis": analysis},
    }


def rejected_json(
    name: str, file_name: str, support: Sequence[str], errors: Sequence[ProtocolErrorInfo]
) -> dict[str, Any]:
    """An upload the robot refused (422), as a protocol that is not stored, with why."""
    return {
        "id": name,
        "protocolFile": {"basename": file_name},
        "supportFiles": [{"basename": n} for n in support],
        "metadata": {},
        "requiredEquipment": {},
        "errors": [error_json(e) for e in errors],
        "stored": False,
    }
