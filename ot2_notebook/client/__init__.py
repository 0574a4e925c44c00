"""The Python client for the OT-2 HTTP API of robot software 4.x.

``RobotClient`` talks to a robot (or ``ot2-sim``); ``Protocol`` and ``Session`` are the
handles it returns; every failure is a ``RobotError`` (subclasses for the cases a user acts
on differently). ``SessionWatcher`` follows a session live (``session.watch()``) over the
notification feed (``NotificationSubscriber``) and polling; those two load on first use,
since they need ``websocket-client``.

Modules, one job each: :mod:`.urls` (robot addresses), :mod:`.transport` (one HTTP request,
its failures as errors), :mod:`.files` (the files of an upload), :mod:`.http` (the 4.x
endpoints; ``RobotClient``, ``Protocol``, ``Session``), :mod:`.models` (plain data),
:mod:`.errors` (the ``RobotError`` family), :mod:`.current` (the kernel's robot),
:mod:`.feed` (the websocket), :mod:`.reconcile` (what a watcher reports, as pure functions),
:mod:`.watcher` (``SessionWatcher``), :mod:`.preflight` (the robot's attached hardware
against a protocol's needs), :mod:`.safety` (never send what hangs a 4.x robot). No Jupyter,
no opentrons, no simulator here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ot2_notebook.client.current import current_robot, set_current_robot
from ot2_notebook.client.errors import (
    AnalysisError,
    CommandNotAllowedError,
    EquipmentMismatchError,
    FeatureDisabledError,
    NoCurrentRobotError,
    NotFoundError,
    ProtocolExistsError,
    RobotError,
    RobotTimeoutError,
    RobotUnreachableError,
    RunCancelledError,
    RunError,
    SessionNotActiveError,
    SessionTimeoutError,
    StopRefusedError,
    UnexpectedResponseError,
    UploadLimitError,
)
from ot2_notebook.client.files import FileInput
from ot2_notebook.client.http import Protocol, RobotClient, Session
from ot2_notebook.client.models import (
    AttachedEquipment,
    AttachedModule,
    AttachedPipette,
    CommandResult,
    Equipment,
    Health,
    Labware,
    Module,
    Pipette,
    ProtocolData,
    ProtocolErrorInfo,
    SessionData,
    SessionEvent,
    StepEvent,
)
from ot2_notebook.client.preflight import EquipmentCheck, PreflightReport
from ot2_notebook.client.urls import normalize_url
from ot2_notebook.names import protocol_id_for

if TYPE_CHECKING:
    from ot2_notebook.client.feed import (
        HARDWARE_EVENTS,
        SESSION_EVENTS,
        Notification,
        NotificationSubscriber,
    )
    from ot2_notebook.client.watcher import SessionWatcher

# public name -> the module that defines it, imported on first use (websocket-client)
_LAZY: dict[str, str] = {
    "HARDWARE_EVENTS": "ot2_notebook.client.feed",
    "SESSION_EVENTS": "ot2_notebook.client.feed",
    "Notification": "ot2_notebook.client.feed",
    "NotificationSubscriber": "ot2_notebook.client.feed",
    "SessionWatcher": "ot2_notebook.client.watcher",
}

__all__ = [
    "HARDWARE_EVENTS",
    "SESSION_EVENTS",
    "AnalysisError",
    "AttachedEquipment",
    "AttachedModule",
    "AttachedPipette",
    "CommandNotAllowedError",
    "CommandResult",
    "Equipment",
    "EquipmentCheck",
    "EquipmentMismatchError",
    "FeatureDisabledError",
    "FileInput",
    "Health",
    "Labware",
    "Module",
    "NoCurrentRobotError",
    "NotFoundError",
    "Notification",
    "NotificationSubscriber",
    "Pipette",
    "PreflightReport",
    "Protocol",
    "ProtocolData",
    "ProtocolErrorInfo",
    "ProtocolExistsError",
    "RobotClient",
    "RobotError",
    "RobotTimeoutError",
    "RobotUnreachableError",
    "RunCancelledError",
    "RunError",
    "Session",
    "SessionData",
    "SessionEvent",
    "SessionNotActiveError",
    "SessionTimeoutError",
    "SessionWatcher",
    "StepEvent",
    "StopRefusedError",
    "UnexpectedResponseError",
    "UploadLimitError",
    "current_robot",
    "normalize_url",
    "protocol_id_for",
    "set_current_robot",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ot2_notebook.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
