"""Every ``opentrons`` internal the worker relies on, in one place, and the probe that checks them.

opentrons offers no public API for what the simulated robot needs: step events as they
happen, a duration estimate per step, the type and model of a module at API levels below
2.14. The engine gets them from internals (``ctx.broker``, ``DurationEstimator._increments``,
``module._core``, the module-model enums that ``compat.py`` patches) that any 8.x minor
release may rename. The engine reaches them only through the functions here, and
``probe()`` (run in a worker when the simulator starts) checks each one, so that an
opentrons without them stops the simulator at start with a message naming the opentrons
version and what is missing, instead of analyses that silently lose their steps, estimates
or module models.

Only ever imported in a worker process (it imports opentrons).
"""

from __future__ import annotations

import copy
import inspect
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ot2_notebook.simulator.workers import compat, inline_hardware


@dataclass(frozen=True)
class Internal:
    """One thing the worker needs from opentrons, and what it is needed for."""

    name: str
    used_for: str


STEP_EVENTS = Internal(
    "ProtocolContext.broker.subscribe('command', ...) and its before/after messages "
    "('$', 'name', 'payload.text')",
    "step events in session logs and on the feed",
)
ESTIMATES = Internal(
    "opentrons.protocols.duration.DurationEstimator with .on_message(), .handle_message(name, "
    "payload) and ._increments (entries with .duration)",
    "estimated run times, --speed pacing and each step's estimate",
)
STEP_PAYLOADS = Internal(
    "the legacy command payloads: 'instrument' (.mount, .name, .channels, .flow_rate), "
    "'location' (Well with .parent and .well_name, types.Location with .labware, TrashBin), "
    "'volume', 'rate'; LabwareLike(...).first_parent()",
    "structured step data (pipette, volume, place) for deck playback",
)
MODULE_CORE = Internal(
    "ModuleContext._core with .get_model() and .MODULE_TYPE",
    "module type and model in requiredEquipment at every API level",
)
MODULE_MODEL_FORMAT = Internal(
    "module-model enums in opentrons.hardware_control.modules.types (patched by compat.py)",
    "modules at API level <= 2.13 on Python 3.11+",
)
ENTRY_POINTS = Internal(
    "opentrons.protocols.parse.parse(extra_labware=, extra_data=), "
    "opentrons.simulate.get_protocol_api(extra_labware=, bundled_data=), "
    "opentrons.protocols.execution.execute.run_protocol(run_time_parameters_with_overrides=)",
    "parsing and simulating protocols with their support files",
)
ERROR_TYPES = Internal(
    "opentrons.protocols.execution.errors.ExceptionInProtocolError (.original_exc, .line) "
    "and opentrons.protocols.types.MalformedPythonProtocolError",
    "analysis errors with their type, message and line",
)
INLINE_HARDWARE = Internal(
    "opentrons.hardware_control.ThreadManager's fields (_loop, managed_obj, bridged_obj, "
    "_sync_managed_obj, _is_running, _cached_modules, _thread), "
    "SynchronousAdapter.call_coroutine_sync and get_protocol_api(hardware_simulator=)",
    "running the hardware simulator on the worker's own thread (inline_hardware.py: "
    "a third less time for a long protocol)",
)
AS_ROBOT = Internal(
    "assigning ProtocolContext.is_simulating on an instance",
    "ctx.is_simulating() answering False during a run, as on a robot",
)

INTERNALS = (
    ENTRY_POINTS,
    STEP_EVENTS,
    ESTIMATES,
    STEP_PAYLOADS,
    MODULE_CORE,
    MODULE_MODEL_FORMAT,
    ERROR_TYPES,
    INLINE_HARDWARE,
    AS_ROBOT,
)


def opentrons_version() -> str:
    """The installed opentrons' version, without importing it."""
    try:
        return metadata.version("opentrons")
    except metadata.PackageNotFoundError:
        return "not installed"


# -- the accessors the engine uses ---------------------------------------------------------------


def subscribe_to_commands(ctx: Any, callback: Callable[[Mapping[str, Any]], None]) -> None:
    """Call ``callback`` with every legacy command message (``{"$": "before"|"after", "name",
    "payload": {"text", ...}}``) the protocol's commands publish."""
    from opentrons.legacy_commands import types as command_types

    ctx.broker.subscribe(command_types.COMMAND, callback)


def pause_command_name() -> str:
    """The legacy command name of ``ctx.pause()``."""
    from opentrons.legacy_commands import types as command_types

    return str(command_types.PAUSE)


def report_as_robot(ctx: Any) -> None:
    """Make ``ctx.is_simulating()`` answer ``False``, as on a robot during a run. Only the
    protocol sees this; opentrons itself asks its core, which still simulates."""
    ctx.is_simulating = lambda: False


def running_estimator() -> Any:
    """opentrons' ``DurationEstimator``, with the duration of the step it just saw.

    Its ``get_total_duration()`` sums every step so far; asked once per step, that made
    analysis quadratic in the protocol's length (10 million additions for 3,500 commands).
    This keeps a running total instead (``.total``), reading the entries each message adds.
    """
    from opentrons.protocols.duration import DurationEstimator

    class RunningEstimator(DurationEstimator):
        def __init__(self) -> None:
            super().__init__()
            self.total = 0.0

        def step_seconds(self, message: Any) -> float:
            """Feed one 'after' message; the estimated seconds of that step."""
            seen = len(self._increments)
            try:
                self.on_message(message)
            except Exception:  # the estimator does not know every command; not fatal
                return 0.0
            seconds = float(sum(entry.duration for entry in self._increments[seen:]))
            self.total += seconds
            return seconds

        def peek_seconds(self, name: str, payload: Any) -> float | None:
            """The estimate of a step about to start, recording nothing: the step is
            handled by a shallow copy (the estimator's position and temperatures are plain
            values; ``_increments`` is only appended to by ``on_message``). A step that
            contains no other step gets exactly the figure its end will give."""
            probe = copy.copy(self)
            try:
                return float(probe.handle_message(name, payload))
            except Exception:  # the estimator does not know every command; not fatal
                return None

    return RunningEstimator()


def module_type_and_model(module: Any) -> tuple[str, str]:
    """``("magneticModuleType", "magneticModuleV2")`` for a loaded module.

    ``ModuleContext.type``/``.model`` need API level 2.14; the core knows both at every level.
    """
    core = module._core
    model = core.get_model()
    module_type = core.MODULE_TYPE
    return (
        str(getattr(module_type, "value", module_type)),
        str(getattr(model, "value", model)),
    )


# -- the probe ---------------------------------------------------------------------------------

_PROBE_LEVEL = "2.13"  # the highest level that uses the legacy core, as the recordings do


def _keyword_parameters(function: Callable[..., Any], *names: str) -> None:
    parameters = inspect.signature(function).parameters
    absent = [name for name in names if name not in parameters]
    if absent:
        raise TypeError(f"{function.__module__}.{function.__qualname__} has no {absent}")


def _check_entry_points() -> None:
    from opentrons import simulate
    from opentrons.protocols import parse
    from opentrons.protocols.execution import execute

    _keyword_parameters(parse.parse, "extra_labware", "extra_data")
    _keyword_parameters(simulate.get_protocol_api, "extra_labware", "bundled_data")
    _keyword_parameters(execute.run_protocol, "run_time_parameters_with_overrides")


def _check_error_types() -> None:
    from opentrons.protocols.execution.errors import ExceptionInProtocolError
    from opentrons.protocols.types import MalformedPythonProtocolError

    error = ExceptionInProtocolError(ValueError("probe"), None, "probe", 1)
    if not isinstance(error.original_exc, ValueError) or error.line != 1:
        raise AttributeError("ExceptionInProtocolError lacks .original_exc or .line")
    if not issubclass(MalformedPythonProtocolError, Exception):
        raise TypeError("MalformedPythonProtocolError is not an exception")


def _check_module_model_format() -> None:
    from opentrons.hardware_control.modules.types import MagneticModuleModel

    compat.apply_all()
    shown = f"{MagneticModuleModel.MAGNETIC_V2}"
    if shown != "magneticModuleV2":
        raise ValueError(f"MagneticModuleModel.MAGNETIC_V2 formats as {shown!r}")


def _inline_context(problems: dict[Internal, str]) -> Any | None:
    """The probe's protocol context on inline hardware, as the engine makes it, or ``None``
    (and the problem recorded) when that does not work with this opentrons."""
    from opentrons import simulate
    from opentrons.hardware_control import ThreadManager

    try:
        _keyword_parameters(simulate.get_protocol_api, "hardware_simulator")
        threads = threading.active_count()
        hardware = inline_hardware.build()
        if not isinstance(hardware, ThreadManager):
            raise TypeError("the inline hardware is not a ThreadManager")
        ctx = simulate.get_protocol_api(_PROBE_LEVEL, hardware_simulator=hardware)
        ctx.home()
        if threading.active_count() != threads:
            raise RuntimeError("the hardware simulator started a thread of its own")
        return ctx
    except Exception as exc:
        problems[INLINE_HARDWARE] = _describe(exc)
        return None


def _check_live(problems: dict[Internal, str]) -> None:
    """Simulate a few commands on a real protocol context, checking each internal on the way."""
    from opentrons import simulate

    ctx = _inline_context(problems)
    if ctx is None:
        ctx = simulate.get_protocol_api(_PROBE_LEVEL)
    seen: list[Mapping[str, Any]] = []
    try:
        subscribe_to_commands(ctx, seen.append)
    except Exception as exc:
        problems[STEP_EVENTS] = _describe(exc)
    try:
        report_as_robot(ctx)
        if ctx.is_simulating() is not False:
            raise AttributeError("is_simulating did not change")
    except Exception as exc:
        problems[AS_ROBOT] = _describe(exc)
    try:
        module = ctx.load_module("magnetic module gen2", 1)
        found = module_type_and_model(module)
        if found != ("magneticModuleType", "magneticModuleV2"):
            raise ValueError(f"read {found}")
    except Exception as exc:
        problems.setdefault(MODULE_CORE, _describe(exc))
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    pipette.drop_tip()
    if STEP_EVENTS not in problems:
        shapes = [(m.get("$"), m.get("name"), (m.get("payload") or {}).get("text")) for m in seen]
        if not any(when == "before" and name and text for when, name, text in shapes) or not any(
            when == "after" for when, _name, _text in shapes
        ):
            problems[STEP_EVENTS] = f"the messages looked like {shapes[:2]!r}"
    try:
        estimator = running_estimator()
        ahead: list[float | None] = []
        total = 0.0
        for m in seen:  # in the order a run sees them: each estimate ahead, then the real one
            if m.get("$") == "before":
                ahead.append(estimator.peek_seconds(str(m.get("name")), m.get("payload")))
            else:
                total += estimator.step_seconds(m)
        if not estimator._increments or total <= 0:
            raise ValueError(f"estimated {total} s for a tip pick-up and drop")
        if None in ahead or abs(sum(a or 0.0 for a in ahead) - total) > 1e-6:
            raise ValueError(f"estimated ahead {ahead}, afterwards {total} s in all")
    except Exception as exc:
        problems[ESTIMATES] = _describe(exc)
    if STEP_EVENTS not in problems:
        problems.update(_check_payloads(seen))


def _check_payloads(seen: list[Mapping[str, Any]]) -> dict[Internal, str]:
    """The tip pick-up and drop of the live check, read as structured step data."""
    from ot2_notebook.simulator.workers.step_details import StepDetails

    try:
        details = StepDetails()
        built = [
            details.build(str(m.get("name")), m.get("payload") or {})
            for m in seen
            if m.get("$") == "before"
        ]
        pick_up = next(b for b in built if b["command"] == "PICK_UP_TIP")
        wanted = {
            "command": "PICK_UP_TIP",
            "pipette": {"mount": "right", "name": "p300_single_gen2", "channels": 1},
            "location": {"slot": 2, "labware": "opentrons_96_tiprack_300ul", "well": "A1"},
        }
        if pick_up != wanted:
            raise ValueError(f"a tip pick-up read as {pick_up!r}")
    except Exception as exc:
        return {STEP_PAYLOADS: _describe(exc)}
    return {}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def check() -> dict[Internal, str]:
    """Every internal that is missing or behaves differently, with what went wrong."""
    problems: dict[Internal, str] = {}
    for internal, probe_one in (
        (ENTRY_POINTS, _check_entry_points),
        (ERROR_TYPES, _check_error_types),
        (MODULE_MODEL_FORMAT, _check_module_model_format),
    ):
        try:
            probe_one()
        except Exception as exc:
            problems[internal] = _describe(exc)
    try:
        _check_live(problems)
    except Exception as exc:  # opentrons cannot even simulate a tip pick-up here
        problems.setdefault(ENTRY_POINTS, f"simulating a tip pick-up failed: {_describe(exc)}")
    return problems


def missing_descriptions(problems: Mapping[Internal, str]) -> tuple[str, ...]:
    """One line per problem: what is missing, what it is for, and what happened."""
    return tuple(
        f"{internal.name} (for {internal.used_for}): {problem}"
        for internal, problem in problems.items()
    )


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))
