"""The Python client for the OT-2 HTTP API of robot software 4.x, and of 5 and later.

``RobotClient`` talks to a robot (or ``ot2-sim``); ``Protocol`` and ``Session`` are the
handles it returns; every failure is a ``RobotError`` (subclasses for the cases a user acts
on differently). ``SessionWatcher`` follows a session live (``session.watch()``) over the
notification feed (``NotificationSubscriber``) and polling; those two load on first use,
since they need ``websocket-client``.

Modules, one job each: :mod:`.urls` (robot addresses), :mod:`.transport` (one HTTP request,
its failures as errors), :mod:`.files` (the files of an upload), :mod:`.http` (the 4.x
endpoints; ``RobotClient``, ``Protocol``, ``Session``), :mod:`.models` (plain data),
:mod:`.errors` (the ``RobotError`` family), :mod:`.current` (the kernel's robots),
:mod:`.subscription` (``Notification``; what the websocket feed and MQTT share),
:mod:`.feed` (the websocket), :mod:`.reconcile` (what a watcher reports, as pure functions),
:mod:`.watcher` (``SessionWatcher``). No Jupyter, no opentrons, no simulator here.

Robot software 5+ (``/protocols`` + ``/runs``, every OT-2 in the field today) behind the same
handles: :mod:`.software` (which API a robot speaks, from ``/health``), :mod:`.api_v8`
(``RunsApi``, the endpoints), :mod:`.protocols_v8`, :mod:`.runs_v8` and :mod:`.commands_v8`
(their JSON as 4.x protocols, sessions and step events), :mod:`.errors_v8` (their errors),
:mod:`.packing` and :mod:`.packed_boot` (a bundle packed into one protocol file),
:mod:`.mqtt` (``MqttSubscriber``, their notifications; loads paho-mqtt on first use).

Safety on real robots: :mod:`.preflight` (the robot's attached hardware against a
protocol's needs), :mod:`.safety` (never send what hangs a 4.x robot).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ot2_notebook.client.current import (
    add_robot,
    current_robot,
    default_robot_name,
    remove_robot,
    robot,
    robots,
    set_current_robot,
)
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
    UnknownRobotError,
    UploadLimitError,
)
from ot2_notebook.client.errors_v8 import (
    ProtocolInUseError,
    ProtocolsPrunedWarning,
    RunActionNotAllowedError,
    RunAlreadyActiveError,
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
    Liquid,
    Module,
    Pipette,
    ProtocolData,
    ProtocolErrorInfo,
    SessionData,
    SessionEvent,
    StepEvent,
)
from ot2_notebook.client.preflight import EquipmentCheck, PreflightReport
from ot2_notebook.client.software import RobotSoftware
from ot2_notebook.client.urls import normalize_url
from ot2_notebook.names import protocol_id_for

if TYPE_CHECKING:
    from ot2_notebook.client.feed import (
        HARDWARE_EVENTS,
        SESSION_EVENTS,
        Notification,
        NotificationSubscriber,
    )
    from ot2_notebook.client.mqtt import MqttSubscriber
    from ot2_notebook.client.watcher import SessionWatcher

# public name -> the module that defines it, imported on first use (websocket-client)
_LAZY: dict[str, str] = {
    "HARDWARE_EVENTS": "ot2_notebook.client.feed",
    "SESSION_EVENTS": "ot2_notebook.client.feed",
    "Notification": "ot2_notebook.client.feed",
    "NotificationSubscriber": "ot2_notebook.client.feed",
    "SessionWatcher": "ot2_notebook.client.watcher",
    "MqttSubscriber": "ot2_notebook.client.mqtt",
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
    "Liquid",
    "Module",
    "MqttSubscriber",
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
    "ProtocolInUseError",
    "ProtocolsPrunedWarning",
    "RobotClient",
    "RobotError",
    "RobotSoftware",
    "RobotTimeoutError",
    "RobotUnreachableError",
    "RunActionNotAllowedError",
    "RunAlreadyActiveError",
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
    "UnknownRobotError",
    "UploadLimitError",
    "add_robot",
    "current_robot",
    "default_robot_name",
    "normalize_url",
    "protocol_id_for",
    "remove_robot",
    "robot",
    "robots",
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
