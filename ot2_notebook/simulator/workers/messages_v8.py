"""Messages between the software-8 server and its worker processes, as named, picklable types.

The server sends one job (``AnalyseJob``, ``RunJob`` or ``ProbeJob``) to a fresh worker.

* An analysis worker answers ``ProtocolRead`` (the files' roles and metadata, or why the
  files are not a protocol), then ``AnalysisStarted`` (the protocol loaded, or the error that
  stopped it), then ``AnalysisDone`` (the analysis document), and exits.
* A run worker answers ``RunLoaded``, then serves ``Call`` requests (actions, setup
  commands, clearing) with ``Reply`` while streaming ``RunChanged`` as the engine's state
  changes, and ``RunFinal`` (everything the server keeps of the run) when the run ends or
  is cleared.

Payloads are plain JSON-ready data (dicts, lists, strings), already shaped as robot-server
8.1.0 sends them, so the server never imports opentrons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The robot type of every OT-2 (``robotType`` in protocols and analyses).
OT2_ROBOT_TYPE = "OT-2 Standard"

# -- jobs (server -> worker) -----------------------------------------------------------------


@dataclass(frozen=True)
class AnalyseJob:
    """Read the files (in ``directory``) as a protocol and analyse it."""

    directory: str
    files: tuple[str, ...]
    run_time_parameter_values: dict[str, Any] = field(default_factory=dict)
    robot_type: str = OT2_ROBOT_TYPE
    #: only read the files (upload validation), do not analyse
    read_only: bool = False
    #: refuse Python protocols above this API level, as an older robot software does
    max_api_level: tuple[int, int] | None = None


@dataclass(frozen=True)
class RunJob:
    """Set up a run: the protocol in ``directory`` (``None``: a run without a protocol)."""

    run_id: str
    directory: str | None
    files: tuple[str, ...] = ()
    run_time_parameter_values: dict[str, Any] = field(default_factory=dict)
    labware_offsets: tuple[dict[str, Any], ...] = ()
    #: ``None``: as the robot-server on simulated hardware; ``X``: motion paced at robot time / X
    speed: float | None = None


@dataclass(frozen=True)
class ProbeJob:
    """Report the worker's opentrons and Python versions."""


# -- analysis answers (worker -> server) -------------------------------------------------------


@dataclass(frozen=True)
class ProtocolRead:
    """The files were read: ``info`` (files, protocolType, robotType, metadata, apiVersion) or
    ``error`` (``kind`` ``files-invalid`` or ``robot-type-mismatch``, and a message)."""

    info: dict[str, Any] | None = None
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class AnalysisStarted:
    """The protocol was loaded for analysis (``error`` is ``None``) or could not be loaded."""

    run_time_parameters: list[dict[str, Any]]
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class AnalysisDone:
    """The completed analysis (without ``id`` and ``status``, which the server owns)."""

    analysis: dict[str, Any]


# -- runs (both ways) --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLoaded:
    """The run is set up (``error`` is ``None``) or could not be (the protocol did not load)."""

    summary: dict[str, Any] | None
    run_time_parameters: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class Call:
    """A request to the run's engine: ``method`` is one of ``CALLS``."""

    call_id: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


#: play/pause/stop/resume-from-recovery; add a command; finish and hand over the run.
ACTION = "action"
ADD_COMMAND = "add_command"
CLEAR = "clear"
CALLS = (ACTION, ADD_COMMAND, CLEAR)


@dataclass(frozen=True)
class Reply:
    """The answer to ``Call`` ``call_id``: ``value``, or ``error`` (a dict with ``kind``)."""

    call_id: int
    value: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunChanged:
    """What changed in the engine since the last message.

    ``commands``: commands added or changed (full, with ``result``), as ``(index, command)``;
    ``status`` / ``summary`` / ``current`` (the current command pointer) / ``errors`` (the
    command errors) when they changed (``None``: unchanged; ``current`` uses ``{}`` for
    "no current command").
    """

    commands: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    status: str | None = None
    summary: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class RunFinal:
    """Everything the server keeps of a finished or cleared run."""

    summary: dict[str, Any]
    commands: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    run_time_parameters: list[dict[str, Any]]
    current: dict[str, Any] | None
    cleared: bool


@dataclass(frozen=True)
class Probed:
    info: dict[str, Any]


@dataclass(frozen=True)
class WorkerFailed:
    """The worker hit a bug of its own (not the protocol's): the server reports it."""

    message: str
