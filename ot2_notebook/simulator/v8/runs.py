"""Runs of the software-8 robot: the current run and the ones before it, with robot-server
8.1.0's rules (recordings 01, 03, 04, 05).

* At most one current run. ``POST /runs`` replaces a current run that is idle or has ended
  (it stays, not current); one that is running or paused makes it 409 ``RunAlreadyActive``.
* The current run has a worker process holding opentrons' engine (``run_link.py``); the
  worker streams the engine's state here, so every ``GET`` is answered from this manager's
  copy without waiting for the protocol. Actions and setup commands go to the engine, which
  decides what is allowed (409 ``RunActionNotAllowed`` with the engine's reason).
* When the run stops being current (``PATCH current:false``, replaced, deleted) its worker
  finishes the run and hands everything over; the worker process then ends. At most
  ``MAX_RUNS`` (20) runs are kept: the oldest goes when a new one is created.
* A protocol whose own code fails while the run is set up gives 422 (robot-server 8.1.0
  answers 500 and leaves a "current" run that does not exist); a worker that dies turns its
  run into a failed run saying why; a stop the protocol does not let happen within
  ``stop_timeout`` ends the worker (the run is stopped).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ot2_notebook.simulator.v8 import errors
from ot2_notebook.simulator.v8.analyses import simulator_error, worker_problem
from ot2_notebook.simulator.v8.clock import new_id, utc_now
from ot2_notebook.simulator.v8.errors import ApiError, InvalidRequest
from ot2_notebook.simulator.v8.notifications import RunTopics
from ot2_notebook.simulator.v8.protocols import ProtocolManager
from ot2_notebook.simulator.v8.run_link import RunLink
from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers.pool import WorkerDied, WorkerPool, WorkerTimeout
from ot2_notebook.simulator.workers.pool_v8 import WorkerFailedError

log = logging.getLogger(__name__)

MAX_RUNS = 20
TERMINAL = frozenset({"stopped", "failed", "succeeded"})
_ENGINE_STOPPED: dict[str, Any] = {
    "type": "RunStoppedError",
    "code": "4000",
    "message": "The run has already stopped.",
    "detail": {},
    "wrapping": [],
}


def _empty_summary() -> dict[str, Any]:
    return {
        "status": "idle",
        "errors": [],
        "hasEverEnteredErrorRecovery": False,
        "labware": [],
        "labwareOffsets": [],
        "pipettes": [],
        "modules": [],
        "liquids": [],
    }


@dataclass
class RunRecord:
    id: str
    created_at: str
    protocol_id: str | None
    summary: dict[str, Any] = field(default_factory=_empty_summary)
    actions: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    current_command: dict[str, Any] = field(default_factory=dict)
    command_errors: list[dict[str, Any]] = field(default_factory=list)
    run_time_parameters: list[dict[str, Any]] = field(default_factory=list)
    link: RunLink | None = None
    #: the engine's data is final (the run ended and its commands are stored)
    stored: bool = False
    #: the run stopped being current: its worker handed everything over
    cleared: bool = False
    #: what MQTT subscribers were last told about (robot-server publishes on changes)
    published_status: str | None = None
    published_current: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "idle"))

    @property
    def engine_alive(self) -> bool:
        return self.link is not None and self.link.alive

    def put_command(self, index: int, command: dict[str, Any]) -> None:
        if index < len(self.commands):
            self.commands[index] = command
        else:
            while len(self.commands) < index:  # cannot happen: commands arrive in order
                self.commands.append(command)
            self.commands.append(command)
        self.index[command["id"]] = index

    def replace_commands(self, commands: list[dict[str, Any]]) -> None:
        self.commands = list(commands)
        self.index = {c["id"]: i for i, c in enumerate(self.commands)}


def _default_cursor(run: RunRecord, length: int) -> int:
    """Where robot-server 8.1.0's engine starts a page of the current run's commands when the
    client names no cursor: at the running command; else at the most recently executed one
    (just before the first queued); else, for a failed run, at the command that failed it;
    else the last page."""
    statuses = [c.get("status") for c in run.commands]
    if "running" in statuses:
        return statuses.index("running")
    if "queued" in statuses:
        return statuses.index("queued") - 1
    if run.status == "failed" and "failed" in statuses:
        return statuses.index("failed")
    return len(statuses) - length


def _summary_of(command: dict[str, Any]) -> dict[str, Any]:
    """A command as ``GET /runs/{id}/commands`` lists it: without ``result``."""
    keys = (
        "id", "key", "commandType", "createdAt", "startedAt", "completedAt", "status",
        "params", "intent", "error", "notes", "failedCommandId",
    )  # fmt: skip
    return {k: command[k] for k in keys if k in command}


class RunManager:
    def __init__(
        self,
        pool: WorkerPool,
        protocols: ProtocolManager,
        topics: RunTopics,
        *,
        timeout: float,
        speed: float | None,
        stop_timeout: float = 10.0,
    ) -> None:
        self.pool = pool
        self.protocols = protocols
        self.topics = topics
        self.timeout = timeout
        self.speed = speed
        self.stop_timeout = stop_timeout
        self._runs: dict[str, RunRecord] = {}
        self._current: str | None = None
        self._lock = threading.RLock()
        self._create_lock = threading.Lock()
        protocols.used_by = self.runs_using

    # -- reading ---------------------------------------------------------------------------------
    @property
    def current_run_id(self) -> str | None:
        with self._lock:
            return self._current

    def runs_using(self, protocol_id: str) -> list[str]:
        with self._lock:
            return [r.id for r in self._runs.values() if r.protocol_id == protocol_id]

    def _get(self, run_id: str, style: str = "get") -> RunRecord:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise errors.run_not_found(run_id, style)
        return run

    def resource(self, run: RunRecord) -> dict[str, Any]:
        with self._lock:
            summary = run.summary
            data: dict[str, Any] = {
                "id": run.id,
                "ok": True,
                "createdAt": run.created_at,
                "status": run.status,
                "current": run.id == self._current,
                "actions": list(run.actions),
                "errors": list(summary.get("errors", [])),
                "hasEverEnteredErrorRecovery": bool(summary.get("hasEverEnteredErrorRecovery")),
                "pipettes": list(summary.get("pipettes", [])),
                "modules": list(summary.get("modules", [])),
                "labware": list(summary.get("labware", [])),
                "liquids": list(summary.get("liquids", [])),
                "labwareOffsets": list(summary.get("labwareOffsets", [])),
                "runTimeParameters": list(run.run_time_parameters),
            }
            if run.protocol_id is not None:
                data["protocolId"] = run.protocol_id
            for key in ("startedAt", "completedAt"):
                if summary.get(key):
                    data[key] = summary[key]
            return data

    def get(self, run_id: str) -> dict[str, Any]:
        return self.resource(self._get(run_id))

    def listing(self, length: int | None) -> tuple[list[dict[str, Any]], str | None]:
        with self._lock:
            runs = list(self._runs.values())
            current = self._current
        if length is not None:
            runs = runs[-length:] if length > 0 else []
        return [self.resource(run) for run in runs], current

    # -- creating --------------------------------------------------------------------------------
    def create(
        self,
        protocol_id: str | None,
        *,
        labware_offsets: list[dict[str, Any]],
        run_time_parameter_values: dict[str, Any],
    ) -> dict[str, Any]:
        """A new current run (blocking: the protocol loads in its worker first)."""
        with self._create_lock:
            protocol = self.protocols.get(protocol_id) if protocol_id is not None else None
            previous = self.current_run_id
            if previous is not None:
                try:
                    self._clear(self._get(previous))
                except _NotIdle:
                    raise errors.run_already_active("Current run is not idle or stopped.") from None
            self._make_room()
            run = RunRecord(id=new_id(), created_at=utc_now(), protocol_id=protocol_id)
            job = msg.RunJob(
                run_id=run.id,
                directory=str(protocol.directory) if protocol is not None else None,
                files=protocol.file_names if protocol is not None else (),
                run_time_parameter_values=dict(run_time_parameter_values),
                labware_offsets=tuple(labware_offsets),
                speed=self.speed,
            )
            link = RunLink(
                self.pool,
                job,
                timeout=self.timeout,
                on_change=lambda change: self._changed(run, change),
                on_final=lambda final: self._finalised(run, final),
                on_died=lambda exc: self._died(run, exc),
            )
            try:
                loaded = link.start()
            except (WorkerTimeout, WorkerDied) as exc:
                raise _set_up_failed(exc, protocol_id, self.timeout) from None
            if loaded.error is not None:
                raise _load_failed(loaded.error)
            with self._lock:
                run.summary = loaded.summary or _empty_summary()
                run.run_time_parameters = loaded.run_time_parameters
                run.link = link
                self._runs[run.id] = run
                self._current = run.id
                run.published_status = run.status
                run.published_current = run.current_command
            # robot-server: "start publishing for the run", then the engine's first status
            self.topics.run_created(run.id)
            self.topics.run_changed(run.id)
            return self.resource(run)

    def _make_room(self) -> None:
        with self._lock:
            removable = [r for r in self._runs if r != self._current]
            while len(self._runs) >= MAX_RUNS and removable:
                self._runs.pop(removable.pop(0), None)

    # -- the engine's stream ---------------------------------------------------------------------
    def _changed(self, run: RunRecord, change: msg.RunChanged) -> None:
        with self._lock:
            for index, command in change.commands:
                run.put_command(index, command)
            if change.summary is not None:
                run.summary = change.summary
            elif change.status is not None:
                run.summary = {**run.summary, "status": change.status}
            if change.current is not None:
                run.current_command = change.current
            if change.errors is not None:
                run.command_errors = change.errors
            is_current = run.id == self._current
            status_news = is_current and run.status != run.published_status
            current_news = is_current and run.current_command != run.published_current
            if status_news:
                run.published_status = run.status
            if current_news:
                run.published_current = run.current_command
        if status_news:
            self.topics.run_changed(run.id)
        if current_news:
            self.topics.current_command_changed()

    def _store(self, run: RunRecord, final: msg.RunFinal) -> None:
        with self._lock:
            run.summary = final.summary
            run.replace_commands(final.commands)
            run.command_errors = final.errors
            run.run_time_parameters = final.run_time_parameters or run.run_time_parameters
            if final.current is not None:
                run.current_command = final.current
            run.stored = True

    def _finalised(self, run: RunRecord, final: msg.RunFinal) -> None:
        """The run ended (it may stay current): its data is stored, as robot-server does."""
        if run.cleared:  # the data handed over when the run was cleared is newer
            return
        self._store(run, final)
        self.topics.commands_stored(run.id)

    def _died(self, run: RunRecord, exc: Exception) -> None:
        """The worker ended on its own: the run failed (or, after a forced stop, stopped)."""
        with self._lock:
            run.link = None
            if run.status in TERMINAL and run.stored:
                return
            forced_stop = run.status == "stop-requested"
            problem = (
                simulator_error(
                    "RunStoppedError",
                    "The protocol did not stop within "
                    f"{self.stop_timeout:g} s; the simulated robot ended it.",
                    new_id(),
                )
                if forced_stop
                else worker_problem(exc, self.timeout, "running")
            )
            problem["id"] = new_id()
            summary = dict(run.summary)
            summary["status"] = "stopped" if forced_stop else "failed"
            summary["errors"] = [*summary.get("errors", []), problem]
            summary.setdefault("completedAt", utc_now())
            run.summary = summary
            run.stored = True
            is_current = run.id == self._current
        if is_current:
            self.topics.run_changed(run.id)
            self.topics.commands_stored(run.id)

    # -- changing --------------------------------------------------------------------------------
    def _clear(self, run: RunRecord) -> None:
        """Finish the current run in its worker and keep its data (raises ``_NotIdle``)."""
        if run.engine_alive:
            assert run.link is not None
            reply = self._wait(run.link.call(msg.CLEAR), self.timeout)
            if reply is not None and reply.error is not None:
                if reply.error.get("kind") == "run-not-idle":
                    raise _NotIdle(reply.error.get("message", ""))
                raise _unexpected(reply.error)
            if reply is not None and isinstance(reply.value, msg.RunFinal):
                self._store(run, reply.value)
            run.cleared = True
            run.link.close()
        elif run.status not in TERMINAL and run.status != "idle":
            raise _NotIdle("Current run is not idle or stopped.")
        with self._lock:
            run.link = None
            if self._current == run.id:
                self._current = None

    def _wait(self, future: Future[msg.Reply], timeout: float | None) -> msg.Reply | None:
        try:
            return future.result(timeout)
        except WorkerDied:
            return None
        except TimeoutError:
            raise ApiError(
                503,
                "RobotBusy",
                "Robot Busy",
                f"The run's engine did not answer within {timeout:g} s; try again.",
            ) from None

    def update(self, run_id: str, current: bool | None) -> dict[str, Any]:
        with self._lock:
            is_current = run_id == self._current
            run = self._runs.get(run_id)
        if not is_current or run is None:
            raise errors.run_stopped(f"Cannot update {run_id} because it is not the current run.")
        if current is False:
            try:
                self._clear(run)
            except _NotIdle as exc:
                raise errors.run_not_idle(str(exc)) from None
            self.topics.commands_stored(run_id)
            self.topics.current_command_changed()
        self.topics.run_changed(run_id)  # robot-server advises a refetch either way
        return self.resource(run)

    def delete(self, run_id: str) -> None:
        run = self._get(run_id)
        if run_id == self.current_run_id:
            try:
                self._clear(run)
            except _NotIdle:
                raise errors.run_not_idle() from None
        with self._lock:
            self._runs.pop(run_id, None)
        self.topics.run_deleted(run_id)

    def _current_run(self, run_id: str) -> RunRecord:
        run = self._get(run_id, "action")
        if run_id != self.current_run_id:
            raise errors.run_stopped(f"Run {run_id} is not the current run")
        return run

    def action(self, run_id: str, action_type: str) -> dict[str, Any]:
        """``POST /runs/{id}/actions`` (blocking until the engine acted)."""
        run = self._current_run(run_id)
        starting = (
            action_type == "play" and run.status == "idle" and not run.summary.get("startedAt")
        )
        if run.engine_alive:
            assert run.link is not None
            reply = self._wait(run.link.call(msg.ACTION, actionType=action_type), self.timeout)
            error = reply.error if reply is not None else self._ended_engine(action_type)
        else:
            error = self._ended_engine(action_type)
        if error is not None:
            if error.get("kind") == "action-not-allowed":
                raise errors.action_not_allowed(error["message"], error.get("error") or {})
            raise _unexpected(error)
        action = {"id": new_id(), "createdAt": utc_now(), "actionType": action_type}
        with self._lock:
            run.actions.append(action)
        if starting:
            self.topics.protocol_run_started()
        if action_type == "stop" and run.engine_alive:
            self._watch_stop(run)
        return action

    @staticmethod
    def _ended_engine(action_type: str) -> dict[str, Any] | None:
        """What the engine of an ended run answers (its worker is gone)."""
        if action_type in ("play", "pause"):
            return {
                "kind": "action-not-allowed",
                "message": _ENGINE_STOPPED["message"],
                "error": _ENGINE_STOPPED,
            }
        if action_type == "resume-from-recovery":
            message = "Cannot resume from recovery if the run is not in recovery mode."
            engine = {
                **_ENGINE_STOPPED,
                "type": "ResumeFromRecoveryNotAllowedError",
                "message": message,
            }
            return {"kind": "action-not-allowed", "message": message, "error": engine}
        return None

    def _watch_stop(self, run: RunRecord) -> None:
        """A worker kill as last resort: if the protocol keeps the engine from stopping."""

        def check() -> None:
            if run.engine_alive and run.status not in TERMINAL:
                log.warning(
                    "run %s did not stop within %s s; ending its worker", run.id, self.stop_timeout
                )
                assert run.link is not None
                link = run.link
                with self._lock:
                    run.summary = {**run.summary, "status": "stop-requested"}
                link.close()
                self._died(run, WorkerDied(None))

        timer = threading.Timer(self.stop_timeout, check)
        timer.daemon = True
        timer.start()

    def add_command(
        self,
        run_id: str,
        data: dict[str, Any],
        *,
        wait_until_complete: bool,
        timeout_ms: int | None,
        failed_command_id: str | None,
    ) -> dict[str, Any]:
        run = self._current_run(run_id)
        if not run.engine_alive:
            raise errors.run_stopped(_ENGINE_STOPPED["message"], meta=_ENGINE_STOPPED)
        assert run.link is not None
        future = run.link.call(
            msg.ADD_COMMAND,
            data=data,
            wait_until_complete=wait_until_complete,
            timeout_ms=timeout_ms,
            failed_command_id=failed_command_id,
        )
        wait = None if wait_until_complete and timeout_ms is None else self.timeout
        if wait is not None and timeout_ms is not None:
            wait += timeout_ms / 1000
        reply = self._wait(future, wait)
        if reply is None:
            raise errors.run_stopped(_ENGINE_STOPPED["message"], meta=_ENGINE_STOPPED)
        if reply.error is None:
            return dict(reply.value)
        kind = reply.error.get("kind")
        message = str(reply.error.get("message", ""))
        meta = reply.error.get("error")
        if kind == "invalid":
            raise InvalidRequest(
                errors.validation_problems(reply.error["problems"], ("body", "data"))
            )
        if kind == "run-stopped":
            raise errors.run_stopped(message, meta=meta)
        if kind == "setup-not-allowed":
            raise ApiError(
                409, "SetupCommandNotAllowed", "Setup Command Not Allowed", message, meta=meta
            )
        if kind == "command-not-allowed":
            raise ApiError(400, "CommandNotAllowed", "Command Not Allowed", message, meta=meta)
        raise _unexpected(reply.error)

    # -- commands --------------------------------------------------------------------------------
    def commands(self, run_id: str, cursor: int | None, length: int) -> dict[str, Any]:
        run = self._get(run_id, "commands")
        with self._lock:
            commands = run.commands
            total = len(commands)
            is_current = run_id == self._current
            pointer = run.current_command if is_current else {}
            if cursor is None:
                cursor = _default_cursor(run, length) if is_current else total - length
            start = max(0, min(cursor, total - 1))
            stop = min(total, start + max(length, 0))
            page = [_summary_of(c) for c in commands[start:stop]] if length > 0 else []
        links: dict[str, Any] = {}
        if pointer:
            links["current"] = {
                "href": f"/runs/{run_id}/commands/{pointer['commandId']}",
                "meta": {"runId": run_id, **pointer},
            }
        return {"data": page, "links": links, "meta": {"cursor": start, "totalLength": total}}

    def command(self, run_id: str, command_id: str) -> dict[str, Any]:
        run = self._get(run_id, "commands")
        with self._lock:
            index = run.index.get(command_id)
            if index is not None:
                return dict(run.commands[index])
        raise errors.command_not_found(command_id)

    def command_errors(self, run_id: str, cursor: int | None, length: int) -> dict[str, Any]:
        run = self._get(run_id)
        if run_id != self.current_run_id:
            raise errors.run_stopped(
                f"Run {run_id} is not the current run; the robot keeps command errors of the "
                "current run only."
            )
        with self._lock:
            found = list(run.command_errors)
        total = len(found)
        if cursor is None:
            cursor = total - 1 if total else 0
        start = max(0, min(cursor, total - 1))
        stop = min(total, start + max(length, 0))
        return {"data": found[start:stop], "meta": {"cursor": start, "totalLength": total}}

    def pre_serialized_commands(self, run_id: str) -> dict[str, Any]:
        run = self._get(run_id, "commands")
        with self._lock:
            if run_id == self._current and not (run.stored and run.status in TERMINAL):
                raise ApiError(
                    503,
                    "PreSerializedCommandsNotAvailable",
                    "Pre-Serialized commands not available.",
                    "Pre-serialized commands are only available once a run has finished running.",
                )
            data = [json.dumps(c) for c in run.commands]
        return {"data": data, "meta": {"cursor": 0, "totalLength": len(data)}}

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.link is not None:
                run.link.close()


def _command_problem(problem: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A problem with a command, located in the request's ``data``: without the union's own
    steps (pydantic 1's ``__root__``/``XCreate``, pydantic 2's tag)."""
    loc = [str(p) for p in problem.get("loc", [])]
    loc = [p for p in loc if p != "__root__" and not p.endswith("Create")]
    if loc and loc[0] == str(data.get("commandType")):
        loc = loc[1:]
    return {**problem, "loc": loc}


class _NotIdle(Exception):
    pass


def _load_failed(error: dict[str, Any]) -> ApiError:
    """robot-server 8.1.0 answers 500 ``UnexpectedError`` here; the protocol is at fault: 422."""
    detail = str(error.get("detail") or "the protocol could not be loaded")
    return ApiError(
        422,
        "ProtocolLoadFailed",
        "Protocol Could Not Be Loaded",
        f"{detail}. The protocol's own code failed while the run was set up (its analysis "
        "shows the same error); fix the protocol and upload it again.",
        meta={
            "type": str(error.get("errorType", "")),
            "code": str(error.get("errorCode", "4000")),
            "message": detail,
            "detail": dict(error.get("errorInfo") or {}),
            "wrapping": [],
        },
    )


def _set_up_failed(exc: Exception, protocol_id: str | None, timeout: float) -> ApiError:
    """The run's worker ended (or hung) before the run was set up. A protocol's module-level
    code may be why (it exited, exhausted memory, looped forever): 422, as a load failure.
    Without a protocol, or when the worker reported a failure of its own, the simulator is
    at fault: 500 saying what happened."""
    if protocol_id is not None and not isinstance(exc, WorkerFailedError):
        return _load_failed(worker_problem(exc, timeout, "loading"))
    what = (
        f"the simulation process did not answer within {timeout:g} s"
        if isinstance(exc, WorkerTimeout)
        else str(exc)
    )
    return ApiError(
        500,
        "UnexpectedError",
        "Unexpected Internal Error",
        f"The simulated robot could not set the run up: {what}. This is ot2-sim's fault, not "
        "the protocol's; its log has the details. Try again; if it keeps happening, please "
        "report it.",
    )


def _unexpected(error: dict[str, Any]) -> ApiError:
    return ApiError(
        500,
        "UnexpectedError",
        "Unexpected Internal Error",
        f"The run's engine failed unexpectedly: {error.get('message')}. This is a bug in "
        "ot2-sim; please report it.",
    )
