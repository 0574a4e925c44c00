"""Turns opentrons' engine objects into the JSON robot-server 8.1.0 sends (worker side only).

robot-server serialises its pydantic models with ``by_alias=True, exclude_none=True`` and
timestamps as ``2026-12-01T21:35:54.581633+00:00``; opentrons 8.2+ (pydantic 2) would write
``...Z``. Everything that leaves a worker goes through ``dump`` so the server only relays
plain data. Works with pydantic 1 (opentrons 8.0/8.1) and pydantic 2 (opentrons 8.2+).
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any

#: Keys whose values are timestamps in robot-server's answers.
_TIME_KEYS = frozenset({"createdAt", "startedAt", "completedAt"})


def _utc(text: str) -> str:
    return text[:-1] + "+00:00" if text.endswith("Z") else text


def _fix_times(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _TIME_KEYS and isinstance(item, str):
                value[key] = _utc(item)
            elif isinstance(item, (dict, list)):
                _fix_times(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _fix_times(item)
    return value


def _plain(value: Any) -> Any:
    """Values of pydantic 1's ``.dict()`` made JSON-ready (pydantic 2 does this itself)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def dump(model: Any) -> Any:
    """One engine model (command, labware, error occurrence...) as robot-server's JSON."""
    if hasattr(model, "model_dump"):  # pydantic 2
        data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif hasattr(model, "dict"):  # pydantic 1
        data = _plain(model.dict(by_alias=True, exclude_none=True))
    else:
        data = _plain(model)
    return _fix_times(data)


def dump_all(models: Iterable[Any]) -> list[Any]:
    return [dump(model) for model in models]


def timestamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return _utc(str(value))


def summary(state_summary: Any) -> dict[str, Any]:
    """The parts of a ``StateSummary`` that robot-server 8.1.0's run resource shows."""
    data: dict[str, Any] = {
        "status": _plain(state_summary.status),
        "errors": dump_all(state_summary.errors),
        "hasEverEnteredErrorRecovery": bool(
            getattr(state_summary, "hasEverEnteredErrorRecovery", False)
        ),
        "labware": dump_all(state_summary.labware),
        "labwareOffsets": dump_all(state_summary.labwareOffsets),
        "pipettes": dump_all(state_summary.pipettes),
        "modules": dump_all(state_summary.modules),
        "liquids": dump_all(state_summary.liquids),
    }
    started = timestamp(getattr(state_summary, "startedAt", None))
    completed = timestamp(getattr(state_summary, "completedAt", None))
    if started is not None:
        data["startedAt"] = started
    if completed is not None:
        data["completedAt"] = completed
    return data


def pointer(command_pointer: Any) -> dict[str, Any]:
    """A ``CommandPointer`` (the current command) as ``{commandId, key, index, createdAt}``;
    ``{}`` when there is none."""
    if command_pointer is None:
        return {}
    return {
        "commandId": command_pointer.command_id,
        "key": command_pointer.command_key,
        "index": command_pointer.index,
        "createdAt": timestamp(command_pointer.created_at),
    }


def enumerated_error(error: Any) -> dict[str, Any]:
    """An opentrons ``EnumeratedError`` as robot-server puts it in an error's ``meta``."""
    code = getattr(error, "code", None)
    code_value = getattr(getattr(code, "value", None), "code", None)
    return {
        "type": type(error).__name__,
        "code": str(code_value or "4000"),
        "message": str(getattr(error, "message", None) or error),
        "detail": _plain(dict(getattr(error, "detail", None) or {})),
        "wrapping": [enumerated_error(e) for e in getattr(error, "wrapping", None) or []],
    }
