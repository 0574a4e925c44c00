"""Runs one protocol with the real ``opentrons`` OT-2 simulation, inside a worker process.

This is the only module that executes user protocol code, and it only ever runs in a
worker process (see ``pool.py``). It serves three job modes:

* ``analyse``: run the protocol once, return required equipment, metadata, the list of
  steps, an estimated duration, or the error that stopped it;
* ``simulate``: the same, for a session's load and ``protocol.startSimulate``;
* ``run``: execute step by step, reporting each step's start and end to the server as it
  happens, pacing steps by an estimate of real robot time divided by ``speed`` (no pacing
  when ``speed`` is ``None``), and honouring pause/resume from the server and
  ``ctx.pause()`` in the protocol. Cancel is the server killing this process.

Each step's start carries its structured data (pipette, volume, flow rate, place, estimated
seconds: :mod:`ot2_notebook.step_data`), read from opentrons' command payload by
``step_details.py``.

The opentrons internals it needs (step messages, duration estimates, module cores) are
reached through ``internals.py``, which the simulator probes when it starts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ot2_notebook.simulator.workers import inline_hardware, internals, messages
from ot2_notebook.simulator.workers.attached import HardwareMismatchError, check_attached_hardware
from ot2_notebook.simulator.workers.messages import Job, JobResult, Pause, ProbeResult, Resume, Step
from ot2_notebook.simulator.workers.step_details import StepDetails
from ot2_notebook.step_data import StepData

log = logging.getLogger(__name__)

FIXED_TRASH = {
    "label": "opentrons_1_trash_1100ml_fixed",
    "uri": "opentrons/opentrons_1_trash_1100ml_fixed/1",
    "slot": 12,
    "location": 12,
}

#: opentrons loggers that are chatty about things a protocol author cannot change.
_QUIET_LOGGERS = (
    "opentrons",
    "opentrons.protocols.duration.estimator",
    "opentrons.config",
    "opentrons.deck_calibration",
)


class _Channel(Protocol):
    """What the engine needs from its connection to the server (a multiprocessing
    ``Connection`` in production)."""

    def send(self, obj: Any) -> None: ...

    def poll(self, timeout: float | None = 0.0) -> bool: ...

    def recv(self) -> Any: ...


@dataclass
class _StepTracker:
    """Numbers steps (all nesting levels) and pairs each end with its start."""

    count: int = 0
    stack: list[int] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def start(self) -> int:
        self.count += 1
        self.stack.append(self.count)
        return self.count

    def end(self) -> int:
        return self.stack.pop() if self.stack else self.count


def _is_labware_definition(data: Any) -> bool:
    return (
        isinstance(data, Mapping)
        and isinstance(data.get("parameters"), Mapping)
        and "loadName" in data["parameters"]
        and "namespace" in data
        and "version" in data
        and "wells" in data
    )


def _support_files(directory: Path, protocol_file: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Custom labware definitions (by URI) and bundled data (by name) among the support files."""
    labware: dict[str, Any] = {}
    data: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name == protocol_file:
            continue
        content = path.read_bytes()
        data[path.name] = content
        if path.suffix.lower() == ".json":
            try:
                parsed = json.loads(content)
            except ValueError:
                continue
            if _is_labware_definition(parsed):
                uri = (
                    f"{parsed['namespace']}/{parsed['parameters']['loadName']}/{parsed['version']}"
                )
                labware[uri] = parsed
    return labware, data


def _user_frame(tb: Any, directory: Path, protocol_file: str) -> tuple[str | None, int | None]:
    """The deepest traceback frame in the user's own files (protocol or support module)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(tb):
        name = frame.filename
        if name == protocol_file:
            found = (protocol_file, frame.lineno)
            continue
        try:
            path = Path(name).resolve()
        except (OSError, ValueError):
            continue
        if path.parent == directory:
            found = (path.name, frame.lineno)
    return found


def describe_error(exc: BaseException, directory: Path, protocol_file: str) -> dict[str, Any]:
    """An entry for a protocol's ``errors`` list, shaped as robot software 4.x sends it:
    ``{"type", "description", "lineNumber"?, "fileName"?}``, plus ``exceptionType`` (the
    Python exception class, which 4.x hides behind ``ExceptionInProtocolError``)."""
    from opentrons.protocols.execution.errors import ExceptionInProtocolError
    from opentrons.protocols.types import MalformedPythonProtocolError

    cause = exc.__cause__
    if isinstance(exc, MalformedPythonProtocolError) and isinstance(cause, SyntaxError):
        exc = cause
    if isinstance(exc, SyntaxError):
        return {
            "type": type(exc).__name__,
            "description": exc.msg or "invalid syntax",
            "lineNumber": exc.lineno,
            "fileName": Path(exc.filename).name if exc.filename else protocol_file,
            "exceptionType": type(exc).__name__,
        }
    if isinstance(exc, MalformedPythonProtocolError):
        return {
            "type": "MalformedProtocolError",
            "description": str(getattr(exc, "short_message", None) or exc),
            "fileName": protocol_file,
            "exceptionType": type(exc).__name__,
        }
    if isinstance(exc, ExceptionInProtocolError):
        original = exc.original_exc
        description = getattr(original, "message", None) or str(original)
        if isinstance(original, KeyError) and original.args:
            description = f"KeyError: {original.args[0]!r}"
        elif isinstance(original, MemoryError):
            description = "The protocol ran out of memory (the simulator bounds each protocol)."
        elif not str(description):
            description = type(original).__name__
        file_name, line = _user_frame(original.__traceback__, directory, protocol_file)
        in_run: dict[str, Any] = {
            "type": "ExceptionInProtocolError",
            "description": str(description),
            "lineNumber": line if line is not None else exc.line,
            "fileName": file_name or protocol_file,
            "exceptionType": type(original).__name__,
        }
        if isinstance(original, HardwareMismatchError):
            in_run.update(original.details())
        return in_run
    file_name, line = _user_frame(exc.__traceback__, directory, protocol_file)
    entry: dict[str, Any] = {
        "type": type(exc).__name__,
        "description": str(getattr(exc, "message", None) or exc) or type(exc).__name__,
        "exceptionType": type(exc).__name__,
    }
    if line is not None:
        entry["lineNumber"] = line
        entry["fileName"] = file_name
    return entry


def required_equipment(ctx: Any) -> dict[str, list[dict[str, Any]]]:
    """Pipettes, labware and modules the protocol loaded, in the 4.x shape and order: by
    mount, and by slot (the fixed trash, slot 12, comes last).

    A labware's ``label`` is its ``name``, as robot software 4.7's analysis gives it: the
    label the protocol gave it (``load_labware(..., label="Samples")``; a JSON protocol's
    ``displayName``, such as "Source Plate"), else its load name.
    """
    pipettes = [
        {
            "mount": str(mount).lower().split(".")[-1],
            "requestedAs": instrument.requested_as,
            "pipetteName": instrument.name,
            "channels": int(instrument.channels),
        }
        for mount, instrument in ctx.loaded_instruments.items()
        if instrument is not None
    ]
    pipettes.sort(key=lambda p: p["mount"])
    labware: list[dict[str, Any]] = []
    for slot, item in ctx.loaded_labwares.items():
        label = str(item.name or item.load_name)
        labware.append({"label": label, "uri": item.uri, "slot": int(slot), "location": int(slot)})
    if not any(lw["slot"] == 12 for lw in labware):
        labware.append(dict(FIXED_TRASH))
    labware.sort(key=lambda lw: lw["slot"])
    modules: list[dict[str, Any]] = []
    for slot, module in ctx.loaded_modules.items():
        module_type, model = internals.module_type_and_model(module)
        modules.append(
            {"type": module_type, "model": model, "slot": int(slot), "location": int(slot)}
        )
    modules.sort(key=lambda m: m["slot"])
    return {"pipettes": pipettes, "labware": labware, "modules": modules}


def _metadata(protocol: Any | None) -> dict[str, Any]:
    if protocol is None:
        return {"name": None, "author": None, "apiLevel": None}
    meta = getattr(protocol, "metadata", None) or {}
    return {
        "name": meta.get("protocolName"),
        "author": meta.get("author"),
        "apiLevel": str(protocol.api_level),
        "description": meta.get("description"),
    }


class _Pacer:
    """Turns the duration estimate of each finished step into a wait (run mode only),
    and handles pause/resume requests from the server while waiting or between steps."""

    def __init__(self, channel: _Channel, speed: float | None) -> None:
        self.channel = channel
        self.speed = speed
        self.paused = False

    def check(self) -> None:
        """Between steps: act on any pending request from the server."""
        while self.channel.poll(0):
            self._handle(self.channel.recv())
        while self.paused:
            self._handle(self.channel.recv())

    def wait(self, seconds: float) -> None:
        """Spend ``seconds`` of simulated robot time; a pause stops the clock."""
        if seconds <= 0:
            self.check()
            return
        self.channel.send(messages.Waiting(seconds))
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self.channel.poll(remaining):
                paused_at = time.monotonic()
                self._handle(self.channel.recv())
                while self.paused:
                    self._handle(self.channel.recv())
                deadline += time.monotonic() - paused_at
        self.check()

    def pause_here(self, message: str | None) -> None:
        """``ctx.pause()`` in the protocol: wait for the server's resume."""
        self.paused = True
        self.channel.send(messages.Paused("protocol", message))
        self.check()

    def _handle(self, request: object) -> None:
        if isinstance(request, Pause) and not self.paused:
            self.paused = True
            self.channel.send(messages.Paused("command"))
        elif isinstance(request, Resume) and self.paused:
            self.paused = False
            self.channel.send(messages.Resumed())


def _quiet_logs() -> None:
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _check_robot_type(protocol: Any) -> None:
    robot_type = str(getattr(protocol, "robot_type", "OT-2 Standard"))
    if robot_type != "OT-2 Standard":
        raise RobotTypeError(
            f"This protocol is for an Opentrons Flex (robotType {robot_type!r}); "
            "this robot is an OT-2. Set requirements = {'robotType': 'OT-2'} or remove it."
        )


class RobotTypeError(Exception):
    """The protocol declares a robot type other than the OT-2."""


class ApiLevelError(Exception):
    """The protocol needs a newer Python Protocol API than the emulated robot software has."""


def _check_api_level(protocol: Any, maximum: tuple[int, int] | None) -> None:
    """``ot2-sim --max-api-level 2.11`` refuses what robot software 4.7 refuses (it supports
    API levels up to 2.11), so a protocol that analyses here also analyses on such a robot."""
    if not maximum:
        return
    major, minor = maximum
    level = protocol.api_level
    if (level.major, level.minor) > (major, minor):
        raise ApiLevelError(
            f"API version {level} is not supported by this robot software. Please reduce your "
            f"API version to {major}.{minor} or below or update your robot."
        )


def _close_hardware(hardware: Any) -> None:
    """Close the job's inline hardware. The job's answer does not depend on it, so a
    failure is not the protocol's: it is logged (to the simulator's log, see
    ``process.log_to_simulator``), not put into the answer or the protocol's output."""
    try:
        inline_hardware.close(hardware)
    except Exception:
        log.exception("closing the hardware simulator failed")


def run_job(job: Job, channel: _Channel) -> JobResult:
    """Execute one job (see module docstring) and return its result.

    In ``run`` mode every step is sent to ``channel`` as it starts and ends; in the other
    modes the steps are returned in the result, which is cheaper for long protocols.
    """
    from opentrons import simulate
    from opentrons.protocols import parse
    from opentrons.protocols.execution import execute

    _quiet_logs()
    streaming = job.mode == messages.RUN
    directory = Path(job.directory).resolve()
    protocol_file = job.protocol_file
    os.chdir(directory)
    sys.path.insert(0, str(directory))

    tracker = _StepTracker()
    estimator = internals.running_estimator()
    # An upload's analysis serves no steps: only sessions' jobs (load, simulate, run) read
    # the payloads for the steps' structured data (about 3 % of a simulation's time).
    details = StepDetails() if job.mode != messages.ANALYSE else None
    pacer = _Pacer(channel, job.speed) if streaming else None
    pause_name = internals.pause_command_name()
    protocol: Any = None
    started = time.perf_counter()
    #: The structured data of each open step (collected jobs): its ``seconds`` come at its end.
    open_data: dict[int, StepData] = {}

    def on_message(message: Mapping[str, Any]) -> None:
        name = str(message.get("name", ""))
        payload = message.get("payload") or {}
        if message.get("$") == "before":
            if pacer is not None:
                pacer.check()
            index = tracker.start()
            text = str(payload.get("text", ""))
            data = details.build(name, payload) if details is not None else None
            event = Step("start", index, name, text, len(tracker.stack) - 1, structured=data)
            if pacer is not None:
                if data is not None:
                    # sent before the step runs: its time is estimated ahead (the same
                    # figure its end gives; about as costly as the estimate itself)
                    ahead = estimator.peek_seconds(name, payload)
                    if ahead is not None:
                        data["seconds"] = ahead
                channel.send(event)
                if name == pause_name:
                    pacer.pause_here(str(payload.get("userMessage") or text))
            else:
                if data is not None:
                    open_data[index] = data
                tracker.steps.append(event)
        else:
            seconds = estimator.step_seconds(message)
            index = tracker.end()
            if pacer is not None:
                if pacer.speed:
                    pacer.wait(seconds / pacer.speed)
                channel.send(Step("end", index, name))  # stamped after the step's time
                pacer.check()
            else:
                data = open_data.pop(index, None)
                if data is not None:  # not sent yet: the start event gets the step's estimate
                    data["seconds"] = seconds
                tracker.steps.append(Step("end", index, name))

    errors: list[dict[str, Any]] = []
    equipment: dict[str, list[dict[str, Any]]] = {"pipettes": [], "labware": [], "modules": []}
    hardware: Any = None
    try:
        extra_labware, bundled_data = _support_files(directory, protocol_file)
        source = (directory / protocol_file).read_text(encoding="utf-8")
        protocol = parse.parse(
            source, protocol_file, extra_labware=extra_labware, extra_data=bundled_data
        )
        _check_robot_type(protocol)
        _check_api_level(protocol, job.max_api_level)
        if inline_hardware.legacy_core(protocol.api_level):
            # the legacy core's hardware calls run on this thread (inline_hardware.py)
            hardware = inline_hardware.build()
        ctx = simulate.get_protocol_api(
            protocol.api_level,
            extra_labware=extra_labware,
            bundled_data=bundled_data,
            hardware_simulator=hardware,
        )
        internals.subscribe_to_commands(ctx, on_message)
        if streaming and job.hardware is not None:
            check_attached_hardware(ctx, job.hardware)
        if streaming:
            # On a robot, ctx.is_simulating() is False during the real run (and True in
            # analysis): protocols use it to skip waits when simulated, or to fail only on
            # the robot. The simulated robot's run answers as the robot does.
            internals.report_as_robot(ctx)
        execute.run_protocol(protocol, ctx, run_time_parameters_with_overrides=None)
        equipment = required_equipment(ctx)
    except Exception as exc:  # any failure of user code is data for the robot's answer
        errors.append(describe_error(exc, directory, protocol_file))
    except SystemExit as exc:  # sys.exit() in a protocol must not look like success
        file_name, line = _user_frame(exc.__traceback__, directory, protocol_file)
        entry: dict[str, Any] = {
            "type": "SystemExit",
            "description": f"The protocol called sys.exit({exc.code!r}); protocols must not exit.",
            "exceptionType": "SystemExit",
        }
        if line is not None:
            entry.update(lineNumber=line, fileName=file_name)
        errors.append(entry)
    finally:
        if hardware is not None:
            _close_hardware(hardware)
    return JobResult(
        metadata=_metadata(protocol),
        equipment=equipment,
        errors=errors,
        steps=tuple(tracker.steps),
        step_count=tracker.count,
        estimated_duration=estimator.total,
        elapsed=time.perf_counter() - started,
    )


def probe() -> ProbeResult:
    """This worker's opentrons: its version and API levels (for ``GET /health``), and every
    internal the engine needs that it lacks (``internals.check``)."""
    missing = internals.missing_descriptions(internals.check())
    max_level = min_level = (2, 0)
    try:
        from opentrons.protocol_api import MAX_SUPPORTED_VERSION, MIN_SUPPORTED_VERSION

        max_level = (MAX_SUPPORTED_VERSION.major, MAX_SUPPORTED_VERSION.minor)
        min_level = (MIN_SUPPORTED_VERSION.major, MIN_SUPPORTED_VERSION.minor)
    except (ImportError, AttributeError) as exc:
        missing += (f"opentrons.protocol_api.MAX/MIN_SUPPORTED_VERSION: {exc}",)
    return ProbeResult(
        opentrons_version=internals.opentrons_version(),
        python=internals.python_version(),
        max_api_version=max_level,
        min_api_version=min_level,
        missing=missing,
    )


__all__ = ["describe_error", "probe", "required_equipment", "run_job"]
