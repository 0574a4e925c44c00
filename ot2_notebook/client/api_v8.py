"""``RunsApi``: the ``/protocols`` + ``/runs`` HTTP API of robot software 5+, in the terms of
the 4.x client (plain :class:`~ot2_notebook.client.ProtocolData`,
:class:`~ot2_notebook.client.SessionData`, :class:`~ot2_notebook.client.CommandResult`).

:class:`~ot2_notebook.client.RobotClient` hands every protocol and session request to this
class once ``GET /health`` says the robot runs software 5 or later; the ``Protocol`` and
``Session`` handles, the watcher, the panels and the magics work unchanged above it. What it
does where the two APIs differ:

* protocols are named as on 4.x (``basic_transfer``): the robot's UUIDs are looked up by the
  name the upload's key records (:mod:`ot2_notebook.client.packing`); one name is one
  protocol, as on 4.x: an upload whose name is taken is refused unless ``replace=True``,
  which deletes the older ones (and their runs that are over) first;
* an upload is packed into one self-contained protocol file (helper modules and data
  embedded; labware definitions, CSV and text files also sent beside it) and waits for the
  analysis, as a 4.x upload does; what the robot refuses outright (422) comes back as a
  protocol that is not stored, with its error placed in the bundle's file and line;
* a session is a run: created ready (``loaded``), controlled with run actions (start and
  resume are ``play``, cancel is ``stop``), deleted after stopping it if it still runs; its
  steps come from the run's commands, read page by page and only what is new
  (:mod:`ot2_notebook.client.runs_v8`);
* the robot's limits (one current run, 5 protocols no run uses, 20 runs) and its 409s come
  back as the errors of :mod:`ot2_notebook.client.errors_v8`, saying what to do.

Requests carry ``Opentrons-Version: 4`` (the HTTP API these robots' recordings speak; older
robots serve their own latest version). Completed analyses and protocol names are kept (they
never change on the robot); a run's commands are kept and only the ones not yet finished
are read again.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from ot2_notebook import session_states as states
from ot2_notebook.client.commands_v8 import Deck, display_names, step_events
from ot2_notebook.client.errors import (
    CommandNotAllowedError,
    NotFoundError,
    ProtocolExistsError,
    RobotError,
    RobotTimeoutError,
    UnexpectedResponseError,
)
from ot2_notebook.client.errors_v8 import (
    LIMITS_HINT,
    ProtocolInUseError,
    ProtocolsPrunedWarning,
    RunAlreadyActiveError,
    rejection_info,
    translate,
)
from ot2_notebook.client.files import FileInput, multipart_part, read_file
from ot2_notebook.client.models import CommandResult, ProtocolData, SessionData
from ot2_notebook.client.packing import BundleKey, pack
from ot2_notebook.client.protocols_v8 import (
    latest_analysis,
    main_file,
    protocol_json,
    protocol_name,
    rejected_json,
)
from ot2_notebook.client.runs_v8 import session_json
from ot2_notebook.client.software import RobotSoftware
from ot2_notebook.client.transport import Transport
from ot2_notebook.names import protocol_id_for

__all__ = ["API_VERSION", "RunsApi"]

#: The ``Opentrons-Version`` header sent to robot software 5+.
API_VERSION: Final = "4"

_PAGE: Final = 200
_BUSY_STATUSES: Final = frozenset(
    {"running", "paused", "finishing", "stop-requested", "blocked-by-open-door"}
)


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _is_uuid_like(ref: str) -> bool:
    return len(ref) == 36 and ref.count("-") == 4


class RunsApi:
    """The robot software 5+ endpoints for one client (see the module doc)."""

    def __init__(self, transport: Transport, software: RobotSoftware) -> None:
        self.transport = transport
        transport.http.headers["Opentrons-Version"] = API_VERSION
        self.software = software
        self._lock = threading.Lock()
        self._resources: dict[str, Mapping[str, Any]] = {}
        self._analyses: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._load_events: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._commands: dict[str, list[Mapping[str, Any]]] = {}

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self.transport.request(method, path, **kwargs)
        except RobotError as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from None

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        body = self._call(method, path, **kwargs)
        if not isinstance(body, dict) or "data" not in body:
            raise UnexpectedResponseError.for_body(
                200, f"{method} {self.transport.url_for(path)}", str(body)[:200]
            )
        return body["data"]

    def _described(self, method: str, path: str) -> str:
        return f"{method} {self.transport.url_for(path)}"

    # -- protocols ---------------------------------------------------------------------------

    def _list_resources(self) -> list[Mapping[str, Any]]:
        data = self._data("GET", "/protocols")
        if not isinstance(data, list):
            raise UnexpectedResponseError.for_body(200, self._described("GET", "/protocols"), "")
        found = [r for r in data if isinstance(r, Mapping) and isinstance(r.get("id"), str)]
        with self._lock:
            for resource in found:
                self._resources[str(resource["id"])] = resource
        return found

    def _resource(self, robot_id: str) -> Mapping[str, Any]:
        with self._lock:
            known = self._resources.get(robot_id)
        if known is not None and self._analysis_done(known):
            return known
        resource = self._data("GET", _path("protocols", robot_id))
        if not isinstance(resource, Mapping):
            raise UnexpectedResponseError.for_body(200, f"GET /protocols/{robot_id}", "")
        with self._lock:
            self._resources[robot_id] = resource
        return resource

    @staticmethod
    def _analysis_done(resource: Mapping[str, Any]) -> bool:
        summary = latest_analysis(resource)
        return summary is not None and summary.get("status") == "completed"

    def _named(self, ref: str) -> list[Mapping[str, Any]]:
        """The protocols stored under name (or robot id) ``ref``, newest first."""
        resources = self._list_resources()
        exact = [r for r in resources if r.get("id") == ref]
        if exact:
            return exact
        named = [r for r in resources if protocol_name(r) == ref]
        return sorted(named, key=lambda r: str(r.get("createdAt") or ""), reverse=True)

    def _not_found(self, ref: str) -> NotFoundError:
        return NotFoundError(
            404,
            "ProtocolNotFound",
            "Resource Not Found",
            f"Resource type 'protocol' with id '{ref}' was not found",
            self._described("GET", "/protocols"),
            hint=(
                f"No protocol named {ref!r} is on the robot: upload it again. {LIMITS_HINT} "
                "List what it holds with robot.protocols()."
            ),
        )

    def _analysis(self, resource: Mapping[str, Any], wait: float) -> Mapping[str, Any] | None:
        """The protocol's latest analysis once completed (waiting up to ``wait`` s)."""
        robot_id = str(resource.get("id"))
        summary = latest_analysis(resource)
        if summary is None or not summary.get("id"):
            return None
        key = (robot_id, str(summary["id"]))
        with self._lock:
            known = self._analyses.get(key)
        if known is not None:
            return known
        path = _path("protocols", robot_id, "analyses", key[1])
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            analysis = self._data("GET", path)
            if isinstance(analysis, Mapping) and analysis.get("status") == "completed":
                with self._lock:
                    self._analyses[key] = analysis
                return analysis
            if time.monotonic() >= deadline:
                return analysis if isinstance(analysis, Mapping) else None
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    def _protocol_data(self, resource: Mapping[str, Any], wait: float) -> ProtocolData:
        analysis = self._analysis(resource, wait)
        if analysis is not None and analysis.get("status") != "completed":
            raise RobotTimeoutError(
                self.transport.base_url,
                wait,
                f"GET {self.transport.url_for(_path('protocols', str(resource.get('id'))))}",
            )
        return ProtocolData.from_json(protocol_json(resource, analysis))

    def protocols(self) -> list[ProtocolData]:
        return [self._protocol_data(r, self.transport.timeout) for r in self._list_resources()]

    def protocol(self, ref: str) -> ProtocolData:
        found = self._named(ref)
        if not found:
            raise self._not_found(ref)
        return self._protocol_data(found[0], self.transport.timeout)

    def delete_protocol(self, ref: str) -> ProtocolData:
        """Delete every protocol stored under name (or robot id) ``ref``; returns the newest."""
        found = self._named(ref)
        if not found:
            raise self._not_found(ref)
        newest = self._protocol_data(found[0], 0.0)
        for resource in found:
            self._delete_resource(resource)
        return newest

    def _delete_resource(self, resource: Mapping[str, Any]) -> None:
        robot_id = str(resource.get("id"))
        try:
            self._call("DELETE", _path("protocols", robot_id))
        except ProtocolInUseError as exc:
            runs = [s.id for s in self.runs() if s.protocol_robot_id == robot_id]
            raise ProtocolInUseError(
                exc.status,
                exc.error_id,
                exc.title,
                exc.detail,
                exc.request,
                source=exc.source,
                entries=exc.entries,
                runs=runs,
            ) from None
        except NotFoundError:
            pass
        with self._lock:
            self._resources.pop(robot_id, None)

    def upload(
        self, protocol: FileInput, support: Iterable[FileInput], *, replace: bool
    ) -> ProtocolData:
        """Pack and upload a bundle, then wait for its analysis (see the module doc)."""
        file_name, content = read_file(protocol, "protocol file")
        supports: list[tuple[str, bytes]] = []
        seen = {file_name}
        for item in support:
            name, data = read_file(item, "support file")
            if name in seen:
                raise ValueError(
                    f"Two files named {name!r} in one upload: the robot keeps one file per "
                    "name; rename or drop one of them."
                )
            seen.add(name)
            supports.append((name, data))
        name = protocol_id_for(file_name)
        before = self._list_resources()
        taken = [r for r in before if protocol_name(r) == name]
        described = self._described("POST", "/protocols")
        if taken and not replace:
            raise ProtocolExistsError(
                None,  # the client's rule (one name, one protocol), not the robot's answer
                "ProtocolExists",
                "Resource Exists",
                f"a protocol named {name!r} is already on the robot",
                described,
                protocol_id=name,
            )
        for resource in taken:
            self._delete_with_runs(resource)
        packed = pack((file_name, content), supports)
        parts = [multipart_part("files", n, c) for n, c in packed.files]
        try:
            body = self._call("POST", "/protocols", files=parts, data={"key": packed.key.to_text()})
        except RobotError as exc:
            if exc.status == 422 and exc.error_id in (
                "ProtocolFilesInvalid",
                "ProtocolRobotTypeMismatch",
            ):
                info = rejection_info(exc.detail, file_name, packed.key)
                if exc.error_id == "ProtocolRobotTypeMismatch":
                    info = type(info)("ProtocolRobotTypeMismatch", exc.detail)
                support_names = [n for n, _ in supports]
                return ProtocolData.from_json(rejected_json(name, file_name, support_names, [info]))
            if taken:
                exc.hint = (
                    f"The previous protocol {name!r} was deleted before this upload, so the "
                    f"robot now holds neither; upload it again. {exc.hint}"
                ).strip()
            raise
        created = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(created, Mapping) or not isinstance(created.get("id"), str):
            raise UnexpectedResponseError.for_body(200, described, str(body)[:200])
        resource = created
        with self._lock:
            self._resources[str(resource["id"])] = resource
        result = self._protocol_data(self._resource(str(resource["id"])), self.transport.timeout)
        self._warn_if_pruned(before, taken, str(resource["id"]))
        return result

    def _delete_with_runs(self, resource: Mapping[str, Any]) -> None:
        """Delete a protocol being replaced, and its runs that are over (a run in progress
        refuses it: :class:`RunAlreadyActiveError`)."""
        robot_id = str(resource.get("id"))
        runs = [s for s in self.runs() if s.protocol_robot_id == robot_id]
        busy = [s for s in runs if s.robot_status in _BUSY_STATUSES]
        if busy:
            raise RunAlreadyActiveError(
                None,  # found before asking the robot to delete anything
                "RunAlreadyActive",
                "Run In Progress",
                f"protocol {protocol_name(resource)!r} is {busy[0].robot_status} in run "
                f"{busy[0].id}, so it cannot be replaced now",
                self._described("DELETE", _path("protocols", robot_id)),
                current_run=busy[0].id,
            )
        for run in runs:
            self.delete_run(run.id)
        self._delete_resource(resource)

    def _warn_if_pruned(
        self, before: Sequence[Mapping[str, Any]], replaced: Sequence[Mapping[str, Any]], new: str
    ) -> None:
        if len(before) - len(replaced) < 5:
            return
        gone = {str(r.get("id")) for r in before} - {str(r.get("id")) for r in replaced}
        gone -= {str(r.get("id")) for r in self._list_resources()}
        gone.discard(new)
        if gone:
            names = ", ".join(sorted(protocol_name(r) for r in before if str(r.get("id")) in gone))
            warnings.warn(
                ProtocolsPrunedWarning(
                    f"To make room for this upload the robot deleted {names}: {LIMITS_HINT}"
                ),
                stacklevel=4,
            )

    # -- runs ---------------------------------------------------------------------------

    def _run(self, run_id: str) -> Mapping[str, Any]:
        run = self._data("GET", _path("runs", run_id))
        if not isinstance(run, Mapping):
            raise UnexpectedResponseError.for_body(200, f"GET /runs/{run_id}", "")
        return run

    def _run_resource(self, run: Mapping[str, Any]) -> Mapping[str, Any] | None:
        protocol_id = run.get("protocolId")
        if not isinstance(protocol_id, str):
            return None
        try:
            return self._resource(protocol_id)
        except NotFoundError:
            return None

    def _load_steps(
        self, resource: Mapping[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The analysis's steps (a run's load-time simulation) and labware names."""
        if resource is None:
            return [], {}
        analysis = self._analysis(resource, 0.0)
        if analysis is None or analysis.get("status") != "completed":
            return [], {}
        key = (str(resource.get("id")), str(analysis.get("id")))
        commands = [c for c in analysis.get("commands") or [] if isinstance(c, Mapping)]
        names = display_names(commands)
        with self._lock:
            events = self._load_events.get(key)
        if events is None:
            events = step_events(commands, Deck.of(analysis, names))
            with self._lock:
                self._load_events[key] = events
        return events, names

    def _run_commands(self, run_id: str) -> list[Mapping[str, Any]]:
        """The run's commands, reading only from the first one not finished before."""
        with self._lock:
            cached = list(self._commands.get(run_id, []))
        start = next(
            (i for i, c in enumerate(cached) if c.get("status") not in ("succeeded", "failed")),
            len(cached),
        )
        path = _path("runs", run_id, "commands")
        while True:
            body = self._call("GET", path, params={"cursor": str(start), "pageLength": str(_PAGE)})
            data = body.get("data") if isinstance(body, Mapping) else None
            meta = body.get("meta") if isinstance(body, Mapping) else None
            if not isinstance(data, list) or not isinstance(meta, Mapping):
                raise UnexpectedResponseError.for_body(200, f"GET {path}", str(body)[:200])
            found_cursor, found_total = meta.get("cursor"), meta.get("totalLength")
            cursor = found_cursor if isinstance(found_cursor, int) else start
            total = found_total if isinstance(found_total, int) else 0
            cached[cursor : cursor + len(data)] = [c for c in data if isinstance(c, Mapping)]
            start = cursor + len(data)
            if not data or start >= total:
                del cached[max(total, 0) :]
                break
        with self._lock:
            self._commands[run_id] = cached
        return cached

    def _session(self, run: Mapping[str, Any], *, full: bool) -> SessionData:
        resource = self._run_resource(run)
        name = protocol_name(resource) if resource is not None else ""
        main = main_file(resource) if resource is not None else ""
        key = BundleKey.parse(resource.get("key")) if resource is not None else None
        commands = self._run_commands(str(run.get("id"))) if full else None
        load, names = self._load_steps(resource) if full else ([], {})
        return SessionData.from_json(
            session_json(
                run,
                name=name,
                main_file=main,
                key=key,
                commands=commands,
                load_events=load,
                display_names=names,
            )
        )

    def run_data(self, run_id: str) -> SessionData:
        """``GET /runs/{id}`` and its new commands, as a session."""
        return self._session(self._run(run_id), full=True)

    def runs(self) -> list[SessionData]:
        """Every run on the robot, oldest first, as sessions without events."""
        data = self._data("GET", "/runs")
        runs = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
        unknown = {r.get("protocolId") for r in runs if isinstance(r.get("protocolId"), str)} - set(
            self._resources
        )
        if unknown:
            self._list_resources()
        return [self._session(r, full=False) for r in runs]

    def create_run(self, ref: str) -> SessionData:
        """``POST /runs`` for the newest protocol named ``ref``."""
        found = self._named(ref)
        if not found:
            raise self._not_found(ref)
        resource = found[0]
        body = {"data": {"protocolId": str(resource["id"])}}
        for attempt in (1, 2):
            try:
                run = self._data("POST", "/runs", json=body)
                break
            except RunAlreadyActiveError as exc:
                exc.current_run = self._current_run()
                raise
            except RobotError as exc:
                if exc.status is not None and exc.status >= 500 and attempt == 1:
                    # robot-server 8.1.0 answers 500 once more after a failed POST /runs
                    # ("Run ... was not found", its ghost current run): the next one works.
                    if "was not found" in exc.detail:
                        continue
                if exc.status in (422, 500) and exc.status is not None:
                    exc.hint = self._load_failed_hint(resource)
                raise
        if not isinstance(run, Mapping) or not isinstance(run.get("id"), str):
            raise UnexpectedResponseError.for_body(201, "POST /runs", str(run)[:200])
        return self.run_data(str(run["id"]))

    def _load_failed_hint(self, resource: Mapping[str, Any]) -> str:
        data = self._protocol_data(resource, 0.0)
        if data.errors:
            return (
                f"The protocol's own code failed while the robot prepared the run: "
                f"{data.errors[0]}. Fix it and upload it again (replace=True)."
            )
        return (
            "The robot could not prepare the run. Check the protocol's analysis "
            "(robot.protocol(NAME).errors) and try again."
        )

    def _current_run(self) -> str | None:
        try:
            body = self._call("GET", "/runs", params={"pageLength": "1"})
        except RobotError:
            return None
        links = body.get("links") if isinstance(body, Mapping) else None
        current = links.get("current") if isinstance(links, Mapping) else None
        href = current.get("href") if isinstance(current, Mapping) else None
        return str(href).rsplit("/", 1)[-1] if href else None

    def action(self, run_id: str, command: str) -> CommandResult:
        """A session command as a run action (``protocol.startRun`` and ``protocol.resume``
        are ``play``, ``protocol.cancel`` is ``stop``)."""
        action = states.RUN_ACTIONS.get(command)
        if action is None:
            raise CommandNotAllowedError(
                None,
                "CommandNotSupported",
                "Command not available",
                f"robot software 5+ runs have no {command!r} command",
                None,
                hint=(
                    "A run of robot software 5+ is started, paused, resumed and cancelled "
                    "(start, pause, resume, cancel); the protocol's analysis (protocol.errors, "
                    "protocol.equipment) is its simulation."
                ),
            )
        path = _path("runs", run_id, "actions")
        if command == states.RESUME:
            now = str(self._run(run_id).get("status") or "")
            if now.startswith("awaiting-recovery"):
                action = "resume-from-recovery"
        try:
            data = self.transport.request("POST", path, json={"data": {"actionType": action}})
        except RobotError as exc:
            status: str | None = None
            state: str | None = None
            try:
                status = str(self._run(run_id).get("status") or "")
                state = states.run_state(status)
            except RobotError:
                pass
            raise translate(exc, state=state, command=command, robot_status=status) from None
        item = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(item, Mapping):
            raise UnexpectedResponseError.for_body(201, f"POST {path}", str(data)[:200])
        return CommandResult.from_json(
            {"id": item.get("id"), "command": command, "status": "executed", **item}
        )

    def delete_run(self, run_id: str, *, stop_timeout: float = 30.0) -> SessionData:
        """Delete a run, stopping it first if it is still going (as deleting a 4.x session
        cancels its run); returns its last data."""
        final = self.run_data(run_id)
        path = _path("runs", run_id)
        try:
            self._call("DELETE", path)
        except RobotError as exc:
            if exc.status != 409:
                raise
            final = self._stop_and_wait(run_id, final, stop_timeout)
            self._call("DELETE", path)
        with self._lock:
            self._commands.pop(run_id, None)
        return final

    def _stop_and_wait(self, run_id: str, data: SessionData, timeout: float) -> SessionData:
        if data.robot_status not in ("stop-requested", *states.RUN_TERMINAL_STATUSES):
            try:
                self.transport.request(
                    "POST", _path("runs", run_id, "actions"), json={"data": {"actionType": "stop"}}
                )
            except RobotError as exc:
                if exc.status != 409:
                    raise
        deadline = time.monotonic() + timeout
        delay = 0.02
        while data.robot_status not in states.RUN_TERMINAL_STATUSES:
            if time.monotonic() > deadline:
                raise RobotTimeoutError(self.transport.base_url, timeout, f"DELETE /runs/{run_id}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
            data = self.run_data(run_id)
        # the current run must be dismissed before it can be deleted while the engine idles
        try:
            self._call("PATCH", _path("runs", run_id), json={"data": {"current": False}})
        except RobotError:
            pass
        return data
