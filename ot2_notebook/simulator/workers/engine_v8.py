"""Reads and analyses a protocol as robot-server 8 does, with opentrons' own protocol engine.

Runs only in a worker process (user code: the protocol's module-level code runs while it
loads). The steps are robot-server 8.1.0's, built from the same opentrons parts:

1. ``ProtocolReader().read_saved``: the files' roles (every ``.py`` is a candidate main
   file, ``.csv``/``.txt`` are data, labware ``.json`` are labware), the protocol type, robot
   type, metadata and API version, or ``ProtocolFilesInvalidError`` (HTTP 422);
2. ``create_simulating_orchestrator`` + ``RunOrchestrator.load`` (``ParseMode.NORMAL``):
   what robot-server's ``AnalysesManager.initialize_analyzer`` does during the upload
   request; a failure here completes the analysis at once with an ``internal-error``;
3. ``RunOrchestrator.run(deck_configuration=[])``: the analysis itself (commands, labware,
   pipettes, modules, liquids, errors), as ``opentrons.cli.analyze`` and robot-server's
   ``ProtocolAnalyzer`` do.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Protocol

from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers import wire_v8 as wire


class Channel(Protocol):
    """The worker's end of its connection to the server."""

    def send(self, obj: Any) -> None: ...


def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def error_occurrence(error_id: str, error: BaseException) -> dict[str, Any]:
    """``error`` as robot-server records an unexpected failure: an ``ErrorOccurrence`` of the
    opentrons error itself, or of a ``PythonException`` wrapping any other exception."""
    from opentrons.protocol_engine import ErrorOccurrence
    from opentrons_shared_data.errors.exceptions import EnumeratedError, PythonException

    enumerated = error if isinstance(error, EnumeratedError) else PythonException(error)
    occurrence = ErrorOccurrence.from_failed(id=error_id, createdAt=utc_now(), error=enumerated)
    return dict(wire.dump(occurrence))


def robot_type_mismatch(protocol_robot_type: Any, robot_type: Any) -> str:
    from opentrons_shared_data.robot import user_facing_robot_type

    theirs = user_facing_robot_type(protocol_robot_type)
    ours = user_facing_robot_type(robot_type, include_article=True)
    return (
        f"This protocol is for {theirs} robots. It can't be analyzed or run on this robot, "
        f"which is {ours}."
    )


def source_info(source: Any) -> dict[str, Any]:
    """What robot-server's protocol resource shows of a ``ProtocolSource``."""
    config = source.config
    info: dict[str, Any] = {
        "files": [{"name": f.path.name, "role": wire.dump(f.role)} for f in source.files],
        "protocolType": wire.dump(config.protocol_type),
        "robotType": str(source.robot_type),
        "metadata": wire.dump(dict(source.metadata)),
    }
    api_version = getattr(config, "api_version", None)
    if api_version is not None:
        info["apiVersion"] = f"{api_version.major}.{api_version.minor}"
    schema = getattr(config, "schema_version", None)
    if schema is not None:
        info["schemaVersion"] = int(schema)
    return info


async def read_source(directory: str, files: tuple[str, ...]) -> Any:
    """The ``ProtocolSource`` of the stored files (raises ``ProtocolFilesInvalidError``)."""
    from opentrons.protocol_reader import ProtocolReader

    paths = [Path(directory) / name for name in files]
    return await ProtocolReader().read_saved(files=paths, directory=None)


def _files_invalid_error() -> type[Exception]:
    from opentrons.protocol_reader import ProtocolFilesInvalidError

    return ProtocolFilesInvalidError


async def read_protocol(job: msg.AnalyseJob | msg.RunJob, channel: Channel | None) -> Any:
    """Read the job's files; report (to ``channel``) what they are. ``None`` if refused."""
    assert job.directory is not None
    try:
        source = await read_source(job.directory, job.files)
    except _files_invalid_error() as error:
        if channel is not None:
            channel.send(msg.ProtocolRead(error_kind="files-invalid", error=str(error)))
        return None
    api_version = getattr(source.config, "api_version", None)
    maximum = getattr(job, "max_api_level", None)
    if maximum and api_version is not None and (api_version.major, api_version.minor) > maximum:
        if channel is not None:  # robot-server's words for a level its opentrons lacks
            channel.send(
                msg.ProtocolRead(
                    error_kind="files-invalid",
                    error=f"API version {api_version} is not supported by this robot software. "
                    "Please either reduce your requested API version or update your robot.",
                )
            )
        return None
    robot_type = getattr(job, "robot_type", msg.OT2_ROBOT_TYPE)
    if str(source.robot_type) != robot_type:
        if channel is not None:
            channel.send(
                msg.ProtocolRead(
                    error_kind="robot-type-mismatch",
                    error=robot_type_mismatch(str(source.robot_type), robot_type),
                )
            )
        return None
    if channel is not None:
        channel.send(msg.ProtocolRead(info=source_info(source)))
    return source


def _run_time_parameters(orchestrator: Any) -> list[dict[str, Any]]:
    try:
        return wire.dump_all(orchestrator.get_run_time_parameters())
    except Exception:  # before load, or a runner without parameters
        return []


def analysis_result(errors: list[dict[str, Any]]) -> str:
    """``ok``, ``not-ok``, or ``parameter-value-required`` (a CSV parameter without a file)."""
    if not errors:
        return "ok"

    def codes(error: dict[str, Any]) -> list[str]:
        found = [str(error.get("errorCode"))]
        for wrapped in error.get("wrappedErrors") or []:
            found += codes(wrapped)
        return found

    if any("4010" in codes(error) for error in errors):  # RUNTIME_PARAMETER_VALUE_REQUIRED
        return "parameter-value-required"
    return "not-ok"


def _empty_analysis(
    robot_type: str, run_time_parameters: list[dict[str, Any]], error: dict[str, Any]
) -> dict[str, Any]:
    return {
        "result": "not-ok",
        "robotType": robot_type,
        "runTimeParameters": run_time_parameters,
        "commands": [],
        "labware": [],
        "pipettes": [],
        "modules": [],
        "liquids": [],
        "errors": [error],
    }


async def analyse(job: msg.AnalyseJob, channel: Channel) -> None:
    """Read, load and analyse the protocol, reporting each step (see the module docstring)."""
    from opentrons.protocol_runner.create_simulating_orchestrator import (
        create_simulating_orchestrator,
    )
    from opentrons.protocol_runner.run_orchestrator import ParseMode

    source = await read_protocol(job, channel)
    if source is None or job.read_only:
        return
    robot_type = str(source.robot_type)
    orchestrator = await create_simulating_orchestrator(
        robot_type=source.robot_type, protocol_config=source.config
    )
    try:
        await orchestrator.load(
            protocol_source=source,
            parse_mode=ParseMode.NORMAL,
            run_time_param_values=dict(job.run_time_parameter_values) or None,
            run_time_param_paths=None,
        )
    except Exception as error:  # the protocol's own code failed while loading
        parameters = _run_time_parameters(orchestrator)
        occurrence = error_occurrence("internal-error", error)
        channel.send(msg.AnalysisStarted(run_time_parameters=parameters, error=occurrence))
        channel.send(msg.AnalysisDone(_empty_analysis(robot_type, parameters, occurrence)))
        return
    channel.send(msg.AnalysisStarted(run_time_parameters=_run_time_parameters(orchestrator)))
    try:
        result = await orchestrator.run(deck_configuration=[])
    except BaseException as error:  # as robot-server's ProtocolAnalyzer.analyze
        if not isinstance(error, Exception):
            raise
        occurrence = error_occurrence("internal-error", error)
        channel.send(
            msg.AnalysisDone(
                _empty_analysis(robot_type, _run_time_parameters(orchestrator), occurrence)
            )
        )
        return
    summary = result.state_summary
    errors = wire.dump_all(summary.errors)
    channel.send(
        msg.AnalysisDone(
            {
                "result": analysis_result(errors),
                "robotType": robot_type,
                "runTimeParameters": wire.dump_all(result.parameters),
                "commands": wire.dump_all(result.commands),
                "labware": wire.dump_all(summary.labware),
                "pipettes": wire.dump_all(summary.pipettes),
                "modules": wire.dump_all(summary.modules),
                "liquids": wire.dump_all(summary.liquids),
                "errors": errors,
            }
        )
    )


def probe() -> dict[str, Any]:
    """The versions ``GET /health`` reports."""
    import opentrons
    from opentrons.protocols.api_support.definitions import (
        MAX_SUPPORTED_VERSION,
        MIN_SUPPORTED_VERSION,
    )

    return {
        "opentrons_version": opentrons.__version__,
        "max_api_version": [MAX_SUPPORTED_VERSION.major, MAX_SUPPORTED_VERSION.minor],
        "min_api_version": [MIN_SUPPORTED_VERSION.major, MIN_SUPPORTED_VERSION.minor],
        "python": ".".join(map(str, sys.version_info[:3])),
    }
