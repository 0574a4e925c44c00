"""The Python client for the OT-2 HTTP API of robot software 4.x.

``RobotClient`` talks to a robot (or ``ot2-sim``); ``Protocol`` and ``Session`` are the
handles it returns; every failure is a ``RobotError`` (subclasses for the cases a user acts
on differently). The notification feed and ``SessionWatcher`` live in
:mod:`ot2_notebook.notifications` (imported on first use: it needs ``websocket-client``).
"""

from __future__ import annotations

from ot2_notebook.client.current import current_robot, set_current_robot
from ot2_notebook.client.errors import (
    AnalysisError,
    CommandNotAllowedError,
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
    UnexpectedResponseError,
    UploadLimitError,
)
from ot2_notebook.client.http import FileInput, Protocol, RobotClient, Session, protocol_id_for
from ot2_notebook.client.models import (
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
)

__all__ = [
    "AnalysisError",
    "CommandNotAllowedError",
    "CommandResult",
    "Equipment",
    "FeatureDisabledError",
    "FileInput",
    "Health",
    "Labware",
    "Module",
    "NoCurrentRobotError",
    "NotFoundError",
    "Pipette",
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
    "UnexpectedResponseError",
    "UploadLimitError",
    "current_robot",
    "protocol_id_for",
    "set_current_robot",
]
