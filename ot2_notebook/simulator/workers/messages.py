"""The messages between the server and a worker process, as named, immutable, picklable types.

Server -> worker: one ``Job`` (or ``ProbeJob``), then ``Pause``/``Resume`` during a run.
Worker -> server: ``Step``, ``Waiting``, ``Paused`` and ``Resumed`` while a run goes on, and
finally one ``JobResult`` (or ``ProbeResult``).

Every message is a frozen dataclass: the receiver matches on its type (``match``/``isinstance``)
and reads fields by name, never by position, so a field can be added without touching the
code that reads the others. A new field must have a default, so that every sender that does
not know it keeps working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ot2_notebook.simulator.hardware import AttachedHardware
from ot2_notebook.step_data import StepData

JobMode = Literal["analyse", "simulate", "run"]
ANALYSE: JobMode = "analyse"
SIMULATE: JobMode = "simulate"
RUN: JobMode = "run"
MODES: tuple[JobMode, ...] = (ANALYSE, SIMULATE, RUN)


# -- server -> worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Simulate (``analyse``, ``simulate``) or run (``run``) one protocol.

    ``speed``: pace a run's steps by estimated robot time / speed (``None``: back to back).
    ``max_api_level``: refuse protocols above this API level, as a 4.7 robot does.
    ``hardware``: a run's attached instruments, checked when the protocol loads them
    (``None``: any instrument loads, as in analysis).
    """

    mode: JobMode
    directory: str
    protocol_file: str
    speed: float | None = None
    max_api_level: tuple[int, int] | None = None
    hardware: AttachedHardware | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown job mode {self.mode!r}; one of {', '.join(MODES)}")


@dataclass(frozen=True)
class ProbeJob:
    """Report the worker's opentrons version and check the internals the engine relies on."""


@dataclass(frozen=True)
class Pause:
    """Pause the run at the next step boundary (or mid-step while pacing)."""


@dataclass(frozen=True)
class Resume:
    """Resume a paused run."""


Control = Pause | Resume


# -- worker -> server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A protocol step started (``phase="start"``) or ended (``phase="end"``).

    ``index`` counts starts from 1 over every nesting level (a ``transfer`` and the
    aspirates inside it each have their own); an end carries the index of its start.
    ``text`` is the robot's description of the step (starts only); ``depth`` is its
    nesting level (0: called by the protocol itself). ``structured`` is the step's data for
    deck playback (starts only; the JSON object of :mod:`ot2_notebook.step_data`: command,
    pipette, volume, flow rate, place, estimated seconds), ``None`` when unknown.
    """

    phase: Literal["start", "end"]
    index: int
    name: str
    text: str | None = None
    depth: int | None = None
    timestamp: float = field(default_factory=time.time)
    structured: StepData | None = None


@dataclass(frozen=True)
class Waiting:
    """The worker paces a step for ``seconds`` (so the server's stall watchdog waits)."""

    seconds: float


@dataclass(frozen=True)
class Paused:
    """The run is paused: by a ``Pause`` (``reason="command"``) or by ``ctx.pause()`` in the
    protocol (``reason="protocol"``, with the protocol's message)."""

    reason: Literal["command", "protocol"]
    message: str | None = None


@dataclass(frozen=True)
class Resumed:
    """The run goes on after a ``Resume``."""


@dataclass(frozen=True)
class JobResult:
    """How a job ended: what the protocol needs, its metadata, and any error.

    ``errors`` holds at most one entry in the 4.x shape (``{"type", "description",
    "lineNumber"?, "fileName"?, "exceptionType"}``); ``steps`` the step events of a job
    that does not stream them (``analyse``, ``simulate``); ``step_count`` the steps started;
    ``estimated_duration`` the estimated robot time (s); ``output`` what the protocol printed.
    """

    metadata: dict[str, Any]
    equipment: dict[str, list[dict[str, Any]]]
    errors: list[dict[str, Any]]
    steps: tuple[Step, ...] = ()
    step_count: int = 0
    estimated_duration: float = 0.0
    elapsed: float = 0.0
    output: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """The worker's opentrons, and the internals it lacks (empty when all are there)."""

    opentrons_version: str
    python: str
    max_api_version: tuple[int, int] = (2, 0)
    min_api_version: tuple[int, int] = (2, 0)
    missing: tuple[str, ...] = ()


Progress = Step | Waiting | Paused | Resumed
"""What a running job reports before its ``JobResult``."""


# -- a channel to no one ------------------------------------------------------------------------


class Nowhere:
    """A worker channel that reports to no one: for a job run where no server listens (a
    spare's warm-up protocol, an engine job timed in a benchmark). ``poll`` never sees a
    message and ``recv`` ends at once, as a channel whose server has gone."""

    def send(self, obj: Any) -> None:
        pass

    def poll(self, timeout: float | None = 0.0) -> bool:
        return False

    def recv(self) -> Any:
        raise EOFError
