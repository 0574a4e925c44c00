"""One software-8 run inside a worker process: opentrons' ``RunOrchestrator`` on simulated
OT-2 hardware, set up as robot-server 8.1.0's ``RunOrchestratorStore.create`` sets it up.

The run lives as long as it is the robot's current run. The worker:

* builds a hardware simulator, a ``ProtocolEngine`` (``create_protocol_engine``) and a
  ``RunOrchestrator``, and loads the protocol
  (``ParseMode.ALLOW_LEGACY_METADATA_AND_REQUIREMENTS``) or prepares a run without one;
* acts on ``Call``s from the server with the engine's own rules: ``play`` starts
  ``RunOrchestrator.run`` or resumes, ``pause`` requests a pause (the running command
  finishes, as on the robot), ``stop`` requests a stop, ``resume-from-recovery``; setup
  commands go through ``add_command_and_wait_for_interval``; ``clear`` finishes the run;
* streams every change of the engine's state (``RunChanged``: commands as they are queued,
  start and finish; the status; the current command; the summary; command errors) from the
  engine's ``notify_publishers`` hook, the hook robot-server's MQTT publishers hang on, and
  sends everything the server keeps (``RunFinal``) once the run has ended.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Any

from ot2_notebook.simulator.workers import engine_v8
from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers import wire_v8 as wire

log = logging.getLogger(__name__)

#: The deck configuration an OT-2 runs with (robot-server's default for ``ot2_standard``):
#: standard slots 1-11 and the fixed trash in 12. Analyses use none (they find out what a
#: protocol needs); runs check their deck against it (a schema-8 JSON protocol that loads
#: labware "in slot 12" fails, as it does on the robot).
OT2_DECK_CONFIGURATION: list[tuple[str, str, str | None]] = [
    *((f"cutout{slot}", "singleStandardSlot", None) for slot in range(1, 12)),
    ("cutout12", "fixedTrashSlot", None),
]
_FINAL_COMMAND_STATUSES = frozenset({"succeeded", "failed"})


class CallError(Exception):
    """A call the engine refused: ``kind`` says which robot-server error it becomes."""

    def __init__(self, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **self.extra}


class _Sender:
    """Thread-safe sends: the engine's hooks may fire from the protocol's thread."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, obj: Any) -> None:
        with self._lock:
            self._conn.send(obj)


def _slice(view: Any, cursor: int, length: int) -> Any:
    """``CommandView.get_slice`` of opentrons 8.0/8.1 ``(cursor, length)`` and 8.2+
    ``(cursor, length, include_fixit_commands)``."""
    if "include_fixit_commands" in inspect.signature(view.get_slice).parameters:
        return view.get_slice(cursor=cursor, length=length, include_fixit_commands=True)
    return view.get_slice(cursor=cursor, length=length)


class EngineWatcher:
    """Sends what changed in the engine after each of its state updates.

    Cheap per update: the status, the running command and the current command are O(1)
    reads; new commands come from the slice past the last one sent; a command is read again
    only when it is (or just was) the running or current one, or the status changed.
    """

    def __init__(self, sender: _Sender) -> None:
        self._sender = sender
        self.engine: Any = None
        self.enabled = False
        self._lock = threading.Lock()
        self._count = 0
        self._index: dict[str, int] = {}
        self._unfinished: dict[str, Any] = {}  # id -> the command object last sent
        self._running: str | None = None
        self._status: str | None = None
        self._current: dict[str, Any] | None = None
        self._failures = 0
        self._broken = False

    def notify(self) -> None:
        """``notify_publishers``: called by the engine after every state update."""
        if not self.enabled or self.engine is None or self._broken:
            return
        try:
            with self._lock:
                self._flush()
        except Exception:  # a bug here must not break the run; the final sync still comes
            self._broken = True
            log.exception("streaming engine changes failed")

    def _flush(self) -> None:
        view = self.engine.state_view.commands
        status = str(wire.dump(view.get_status()))
        running = view.get_running_command_id()
        current = wire.pointer(view.get_current())
        changed: dict[str, tuple[int, Any]] = {}

        # new commands (queued, or already running or finished)
        commands = _slice(view, self._count, 100_000)
        for offset, command in enumerate(commands.commands):
            index = commands.cursor + offset
            if index >= self._count:
                changed[command.id] = (index, command)
                self._index[command.id] = index
        self._count = max(self._count, commands.total_length)

        suspects = {self._running, running, current.get("commandId")}
        if status != self._status:
            suspects |= set(self._unfinished)
        for command_id in suspects:
            if command_id is None or command_id in changed or command_id not in self._unfinished:
                continue
            command = view.get(command_id)
            if command is not self._unfinished[command_id]:
                changed[command_id] = (self._index[command_id], command)

        finished_any = False
        failed_any = False
        entries: list[tuple[int, dict[str, Any]]] = []
        for command_id, (index, command) in sorted(changed.items(), key=lambda kv: kv[1][0]):
            data = wire.dump(command)
            entries.append((index, data))
            if data.get("status") in _FINAL_COMMAND_STATUSES:
                self._unfinished.pop(command_id, None)
                finished_any = True
                failed_any = failed_any or data.get("status") == "failed"
            else:
                self._unfinished[command_id] = command

        status_changed = status != self._status
        current_changed = current != self._current
        if not (entries or status_changed or current_changed):
            return
        update: dict[str, Any] = {"commands": entries}
        if status_changed:
            update["status"] = status
        if current_changed:
            update["current"] = current
        if status_changed or finished_any:
            update["summary"] = wire.summary(self.engine.state_view.get_summary())
        if status_changed or failed_any:
            errors = wire.dump_all(view.get_all_errors())
            if status_changed or len(errors) != self._failures:
                update["errors"] = errors
                self._failures = len(errors)
        self._status, self._running, self._current = status, running, current
        self._sender.send(msg.RunChanged(**update))


class RunService:
    """The run's engine and the worker's side of the server's calls."""

    def __init__(self, job: msg.RunJob, conn: Any) -> None:
        self.job = job
        self.conn = conn
        self.sender = _Sender(conn)
        self.watcher = EngineWatcher(self.sender)
        self.orchestrator: Any = None
        self.engine: Any = None
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._done = asyncio.Event()
        self._handed_over = False
        # A first play is answered the moment the run's status moves (see _answer_on_start)
        self._start_answer: tuple[int, str] | None = None  # (call id, status before)
        self._answered: set[int] = set()
        self._answer_lock = threading.Lock()

    # -- life --------------------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        def read() -> None:  # the server's calls, handed to the engine's loop
            while True:
                try:
                    item = self.conn.recv()
                except (EOFError, OSError):
                    item = None
                loop.call_soon_threadsafe(inbox.put_nowait, item)
                if item is None:
                    return

        if not await self._set_up():
            return
        threading.Thread(target=read, name="server-calls", daemon=True).start()
        while not self._done.is_set():
            getter = asyncio.ensure_future(inbox.get())
            done_waiter = asyncio.ensure_future(self._done.wait())
            finished, _pending = await asyncio.wait(
                {getter, done_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            done_waiter.cancel()
            if getter not in finished:
                getter.cancel()
                break
            call = getter.result()
            if call is None:  # the server went away
                break
            if isinstance(call, msg.Call):
                self._spawn(self._handle(call))

    async def _set_up(self) -> bool:
        from opentrons.hardware_control import API
        from opentrons.protocol_engine import Config, DeckType, error_recovery_policy
        from opentrons.protocol_engine.create_protocol_engine import create_protocol_engine
        from opentrons.protocol_runner import RunOrchestrator
        from opentrons.protocol_runner.run_orchestrator import ParseMode
        from opentrons.protocols.api_support.deck_type import should_load_fixed_trash

        job = self.job
        source = None
        if job.directory is not None:
            try:
                source = await engine_v8.read_source(job.directory, job.files)
            except Exception as error:
                self.sender.send(
                    msg.RunLoaded(summary=None, error=engine_v8.error_occurrence("run", error))
                )
                return False
        hardware = await API.build_hardware_simulator()
        if job.speed:
            from ot2_notebook.simulator.workers import pacing_v8

            pacing_v8.pace(hardware, job.speed)
        self.engine = await create_protocol_engine(
            hardware_api=hardware,
            config=Config(
                robot_type="OT-2 Standard",
                deck_type=DeckType.OT2_STANDARD,
                block_on_door_open=False,
                # the simulated robot has every module a protocol asks for
                use_virtual_modules=True,
            ),
            error_recovery_policy=error_recovery_policy.never_recover,
            load_fixed_trash=should_load_fixed_trash(source.config) if source else False,
            deck_configuration=OT2_DECK_CONFIGURATION,
            notify_publishers=self._engine_changed,
        )
        self.watcher.engine = self.engine
        self.orchestrator = RunOrchestrator.build_orchestrator(
            run_id=job.run_id,
            protocol_engine=self.engine,
            hardware_api=hardware,
            protocol_config=source.config if source else None,
        )
        try:
            if source is not None:
                await self.orchestrator.load(
                    source,
                    run_time_param_values=dict(job.run_time_parameter_values) or None,
                    run_time_param_paths=None,
                    parse_mode=ParseMode.ALLOW_LEGACY_METADATA_AND_REQUIREMENTS,
                )
            else:
                self.orchestrator.prepare()
            for offset in job.labware_offsets:
                self._add_labware_offset(offset)
        except Exception as error:  # the protocol's module-level code failed
            self.sender.send(
                msg.RunLoaded(summary=None, error=engine_v8.error_occurrence("run", error))
            )
            return False
        self.sender.send(
            msg.RunLoaded(
                summary=wire.summary(self.orchestrator.get_state_summary()),
                run_time_parameters=self._run_time_parameters(),
            )
        )
        self.watcher.enabled = True
        self.watcher.notify()  # commands a JSON protocol queued while loading
        return True

    def _add_labware_offset(self, offset: dict[str, Any]) -> None:
        from opentrons.protocol_engine import LabwareOffsetCreate

        if hasattr(LabwareOffsetCreate, "model_validate"):
            request = LabwareOffsetCreate.model_validate(offset)
        else:
            request = LabwareOffsetCreate.parse_obj(offset)
        self.orchestrator.add_labware_offset(request)

    def _run_time_parameters(self) -> list[dict[str, Any]]:
        try:
            return wire.dump_all(self.orchestrator.get_run_time_parameters())
        except Exception:
            return []

    def _engine_changed(self) -> None:
        """``notify_publishers``: the engine's state just changed (called synchronously from
        the dispatch that changed it)."""
        self.watcher.notify()
        self._answer_on_start()

    def _answer_on_start(self) -> None:
        """Answer a pending first ``play`` once the run's status has moved.

        The engine's play is dispatched before the protocol's first line runs (opentrons'
        runners call ``play()`` and only then start the protocol's task), and this hook runs
        inside that dispatch: the answer is in the pipe before the protocol can do anything.
        Answered later, a protocol that ends its own process at once (``os._exit``) could
        take the answer with it, and a play the engine accepted would read as refused.
        """
        with self._answer_lock:
            pending = self._start_answer
            if pending is None or self._status() == pending[1]:
                return
            self._start_answer = None
            self._answered.add(pending[0])
        self.sender.send(msg.Reply(pending[0], value=None))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- calls -------------------------------------------------------------------------------
    async def _handle(self, call: msg.Call) -> None:
        reply = await self._answer(call)
        with self._answer_lock:
            if self._start_answer is not None and self._start_answer[0] == call.call_id:
                self._start_answer = None  # the status never moved: answered here
            answered_early = call.call_id in self._answered
            self._answered.discard(call.call_id)
        if not answered_early:
            self.sender.send(reply)
        if reply.error is None and self._handed_over:
            self._done.set()

    async def _answer(self, call: msg.Call) -> msg.Reply:
        try:
            value: Any = None
            if call.method == msg.ACTION:
                await self._action(str(call.params["actionType"]), call.call_id)
            elif call.method == msg.ADD_COMMAND:
                value = await self._add_command(**call.params)
            elif call.method == msg.CLEAR:
                value = await self._clear()
            else:
                raise CallError("unknown-call", f"unknown call {call.method!r}")
        except CallError as error:
            return msg.Reply(call.call_id, error=error.as_dict())
        except Exception as error:  # a bug of the simulator, reported to the server
            log.exception("call %s failed", call.method)
            return msg.Reply(
                call.call_id,
                error={"kind": "unexpected", "message": f"{type(error).__name__}: {error}"},
            )
        return msg.Reply(call.call_id, value=value)

    def _status(self) -> str:
        return str(wire.dump(self.orchestrator.get_run_status()))

    async def _settle(self, before: str, task: asyncio.Future[Any] | None) -> None:
        """Let a just-requested change reach the engine's state before answering (bounded),
        so that a ``GET`` right after the action sees it, as on the robot."""
        for _ in range(100):
            if self._status() != before or (task is not None and task.done()):
                return
            await asyncio.sleep(0.002)

    async def _action(self, action: str, call_id: int) -> None:
        from opentrons.protocol_engine.errors import ProtocolEngineError

        orchestrator = self.orchestrator
        before = self._status()
        try:
            if action == "play":
                if orchestrator.run_has_started():
                    orchestrator.play(deck_configuration=OT2_DECK_CONFIGURATION)
                else:
                    with self._answer_lock:
                        self._start_answer = (call_id, before)
                    self._run_task = asyncio.ensure_future(self._run_protocol())
                    await self._settle(before, self._run_task)
            elif action == "pause":
                orchestrator.pause()
            elif action == "stop":
                stop = asyncio.ensure_future(self._stop())
                self._tasks.add(stop)
                stop.add_done_callback(self._tasks.discard)
                await self._settle(before, stop)
            elif action == "resume-from-recovery":
                resume = orchestrator.resume_from_recovery
                if "reconcile_false_positive" in inspect.signature(resume).parameters:
                    resume(reconcile_false_positive=False)
                else:
                    resume()
            else:
                raise CallError("invalid-action", f"unknown action {action!r}")
        except ProtocolEngineError as error:
            raise CallError(
                "action-not-allowed",
                str(getattr(error, "message", None) or error),
                error=wire.enumerated_error(error),
            ) from error

    async def _run_protocol(self) -> None:
        try:
            await self.orchestrator.run(deck_configuration=OT2_DECK_CONFIGURATION)
        except Exception as error:  # e.g. play on a run stopped before it started
            log.info("run did not start or ended with an error: %s", error)
        if self.orchestrator.get_is_run_terminal() and not self._handed_over:
            self.watcher.notify()
            self.sender.send(self._final(cleared=False))

    async def _stop(self) -> None:
        try:
            await self.orchestrator.stop()
        except Exception as error:  # robot-server runs stop as a task and ignores this too
            log.info("stop: %s", error)
        if (
            self.orchestrator.get_is_run_terminal()
            and (self._run_task is None or self._run_task.done())
            and not self._handed_over
        ):
            self.watcher.notify()
            self.sender.send(self._final(cleared=False))

    async def _add_command(
        self,
        data: dict[str, Any],
        wait_until_complete: bool = False,
        timeout_ms: int | None = None,
        failed_command_id: str | None = None,
    ) -> dict[str, Any]:
        from opentrons.protocol_engine import errors as pe_errors

        request = _parse_command(data)
        try:
            command = await self.orchestrator.add_command_and_wait_for_interval(
                command=request,
                wait_until_complete=wait_until_complete,
                timeout=timeout_ms,
                failed_command_id=failed_command_id,
            )
        except pe_errors.SetupCommandNotAllowedError as error:
            raise CallError(
                "setup-not-allowed", error.message, error=wire.enumerated_error(error)
            ) from error
        except pe_errors.RunStoppedError as error:
            raise CallError(
                "run-stopped", error.message, error=wire.enumerated_error(error)
            ) from error
        except pe_errors.CommandNotAllowedError as error:
            raise CallError(
                "command-not-allowed", error.message, error=wire.enumerated_error(error)
            ) from error
        return dict(wire.dump(self.orchestrator.get_command(command.id)))

    async def _clear(self) -> msg.RunFinal:
        from opentrons.protocol_engine.types import PostRunHardwareState

        if not self.orchestrator.get_is_okay_to_clear():
            raise CallError("run-not-idle", "Current run is not idle or stopped.")
        await self.orchestrator.finish(
            drop_tips_after_run=False,
            set_run_status=False,
            post_run_hardware_state=PostRunHardwareState.STAY_ENGAGED_IN_PLACE,
        )
        self.watcher.enabled = False
        self._handed_over = True  # nothing is sent about this run after its hand-over
        return self._final(cleared=True)

    def _final(self, cleared: bool) -> msg.RunFinal:
        orchestrator = self.orchestrator
        return msg.RunFinal(
            summary=wire.summary(orchestrator.get_state_summary()),
            commands=wire.dump_all(orchestrator.get_all_commands()),
            errors=wire.dump_all(orchestrator.get_command_errors()),
            run_time_parameters=self._run_time_parameters(),
            current=wire.pointer(orchestrator.get_current_command()),
            cleared=cleared,
        )


def _parse_command(data: dict[str, Any]) -> Any:
    """A ``CommandCreate`` from a request's ``data`` (setup intent unless given), or
    ``CallError("invalid")`` with pydantic's problems as ``(type, loc, msg, ctx)``."""
    import pydantic
    from opentrons.protocol_engine import commands as pe_commands

    body = dict(data)
    body.setdefault("intent", "setup")
    if body.get("intent") is None:
        body["intent"] = "setup"
    try:
        if hasattr(pydantic, "TypeAdapter"):
            return pydantic.TypeAdapter(pe_commands.CommandCreate).validate_python(body)
        return pydantic.parse_obj_as(pe_commands.CommandCreate, body)  # type: ignore[arg-type,unused-ignore]
    except pydantic.ValidationError as error:
        problems = [
            {
                "type": str(item.get("type", "")),
                "loc": [p if isinstance(p, int) else str(p) for p in item.get("loc", ())],
                "msg": str(item.get("msg", "")),
                "ctx": {str(k): str(v) for k, v in (item.get("ctx") or {}).items()},
            }
            for item in error.errors()
        ]
        raise CallError("invalid", "invalid command", problems=problems) from None
