"""``RobotClient``: the HTTP API of OT-2 robot software 4.x (experimental protocol sessions),
and the live handles it returns, :class:`Protocol` and :class:`Session`.

This module maps the 4.x endpoints (``/protocols``, ``/sessions``, ``/health``,
``/settings``) to methods and plain data; sending a request, the ``Opentrons-Version: 2``
header and turning failures into a :class:`RobotError` that says what to do are the
:class:`~ot2_notebook.client.transport.Transport`'s job. :class:`Protocol` and
:class:`Session` wrap the plain data classes of :mod:`ot2_notebook.client.models`: they keep
a reference to the client so that ``proto.delete()`` or ``session.start()`` need no other
argument.

Robots on software 5 and later speak ``/protocols`` + ``/runs`` instead. The client learns
which from ``GET /health`` (:mod:`ot2_notebook.client.software`, on first need) and then
hands every protocol and session request to :class:`~ot2_notebook.client.api_v8.RunsApi`,
which answers in the same plain data: the handles, and everything above them, are the same
for both kinds of robot (a run is a :class:`Session`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import (
    AnalysisError,
    EquipmentMismatchError,
    NotFoundError,
    ProtocolExistsError,
    RobotError,
    RobotTimeoutError,
    RunCancelledError,
    RunError,
    SessionTimeoutError,
    UnexpectedResponseError,
    UploadLimitError,
)
from ot2_notebook.client.files import FileInput, Part, multipart_part, read_file, upload_parts
from ot2_notebook.client.models import (
    AttachedEquipment,
    CommandResult,
    Health,
    ProtocolData,
    ProtocolErrorInfo,
    SessionData,
    SessionEvent,
)
from ot2_notebook.client.preflight import PreflightReport, check_equipment
from ot2_notebook.client.safety import StopGuard
from ot2_notebook.client.software import RobotSoftware
from ot2_notebook.client.transport import Transport
from ot2_notebook.client.urls import DEFAULT_PORT, DEFAULT_URL, normalize_url, notifications_url
from ot2_notebook.names import protocol_id_for

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    import pandas

    from ot2_notebook.client.api_v8 import RunsApi
    from ot2_notebook.client.feed import Notification
    from ot2_notebook.client.models import Equipment, StepEvent
    from ot2_notebook.client.watcher import SessionWatcher

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "FileInput",
    "Protocol",
    "RobotClient",
    "Session",
    "normalize_url",
    "notifications_url",
    "protocol_id_for",
]

API_VERSION = "2"
#: Seconds a robot may answer nothing before a wait gives up on it (it is busy meanwhile:
#: robot software 4.x blocks while it cancels or deletes a running session).
BUSY_GRACE = 60.0


def _unexpected(status: int, described: str, text: str) -> UnexpectedResponseError:
    return UnexpectedResponseError.for_body(status, described, text)


class RobotClient:
    """A client for one OT-2 (or ``ot2-sim``) at ``base_url``.

    ``timeout`` bounds each request (seconds to wait for an answer); connecting is bounded
    by ``min(timeout, 5)`` so a wrong IP fails fast. Use it as a context manager, or call
    :meth:`close`, to release its connections.

    ``robot_software`` (``4``, ``8``, ``"8.1.0"``) says which software the robot runs, so the
    client need not ask; by default it reads ``GET /health`` before its first protocol or
    session request (:attr:`software`).

    Every request goes through :attr:`stop_guard` (:mod:`ot2_notebook.client.safety`): a
    cancel or delete of a paused session, which hangs a 4.x robot, is preceded by a resume
    (or refused), and a stop waits as long as a 4.x robot takes to answer it.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        timeout: float = 30.0,
        *,
        robot_software: int | str | RobotSoftware | None = None,
    ) -> None:
        self.transport = Transport(
            normalize_url(base_url), timeout, {"Opentrons-Version": API_VERSION}
        )
        self._software: RobotSoftware | None = None
        self._runs_api: RunsApi | None = None
        if isinstance(robot_software, RobotSoftware):
            self._use_software(robot_software)
        elif robot_software is not None:
            self._use_software(RobotSoftware.assumed(robot_software, self.transport.base_url))
        self.stop_guard = StopGuard(self)

    @property
    def base_url(self) -> str:
        """The robot's HTTP API, e.g. ``http://10.0.0.5:31950``."""
        return self.transport.base_url

    @property
    def timeout(self) -> float:
        """Seconds each request waits for an answer."""
        return self.transport.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.transport.timeout = float(value)

    # -- plumbing ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"RobotClient({self.base_url!r})"

    def __enter__(self) -> RobotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled HTTP connections (the client can still be used afterwards)."""
        self.transport.close()

    def copy(self) -> RobotClient:
        """A new client for the same robot with its own connections (one per thread)."""
        return RobotClient(self.base_url, timeout=self.timeout, robot_software=self._software)

    # -- which robot API -----------------------------------------------------------------

    @property
    def software(self) -> RobotSoftware:
        """The robot's software and API (read from ``GET /health`` on first use)."""
        if self._software is None:
            self.health()
        assert self._software is not None
        return self._software

    @property
    def uses_runs_api(self) -> bool:
        """Whether the robot speaks ``/protocols`` + ``/runs`` (robot software 5+)."""
        return self.software.uses_runs

    def _use_software(self, software: RobotSoftware) -> None:
        if self._software == software:
            return
        self._software = software
        if software.uses_runs:
            from ot2_notebook.client.api_v8 import RunsApi

            self._runs_api = RunsApi(self.transport, software)
        else:
            self._runs_api = None
            self.transport.http.headers["Opentrons-Version"] = API_VERSION

    def _runs(self) -> RunsApi | None:
        """The robot software 5+ API, or ``None`` for a 4.x robot."""
        if self._software is None:
            self.health()
        return self._runs_api

    def session_feed(
        self,
        session_id: str,
        *,
        on_event: Callable[[Notification], None],
        on_status: Callable[[bool], None],
        ping_interval: float = 10.0,
        start: bool = True,
    ) -> Any:
        """The live feed a :class:`~ot2_notebook.client.watcher.SessionWatcher` of this
        session listens to: the websocket notification feed on 4.x
        (:class:`~ot2_notebook.client.feed.NotificationSubscriber`), the robot's MQTT broker
        on 5+ (:class:`~ot2_notebook.client.mqtt.MqttSubscriber`, whose messages only say
        "read it again"); ``None`` when the robot has no broker (the watcher polls)."""
        software = self.software
        if software.uses_runs:
            if software.mqtt is None:
                return None
            from ot2_notebook.client.mqtt import MqttSubscriber, run_topics

            host, port = software.mqtt
            return MqttSubscriber(
                host,
                port,
                run_topics(session_id),
                on_event=on_event,
                on_status=on_status,
                ping_interval=ping_interval,
                start=start,
            )
        from ot2_notebook.client.feed import SESSION_EVENTS, NotificationSubscriber

        return NotificationSubscriber(
            self,
            [SESSION_EVENTS],
            on_event=on_event,
            on_status=on_status,
            ping_interval=ping_interval,
            start=start,
        )

    def url_for(self, path: str) -> str:
        return self.transport.url_for(path)

    def notifications_url(self, topics: Iterable[str]) -> str:
        """``ws://HOST:PORT/notifications/subscribe?topic=A&topic=B`` for this robot."""
        return notifications_url(self.base_url, topics)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Sequence[Part] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; raise :class:`RobotError`.

        Public so that endpoints this client does not wrap stay reachable with the same
        headers, error handling and safety rule (:attr:`stop_guard`).
        """
        timeout = self.stop_guard.prepare(method, path, json)
        return self.transport.request(
            method, path, json=json, files=files, params=params, timeout=timeout
        )

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request()`` and unwrap the ``{"data": ...}`` envelope."""
        body = self.request(method, path, **kwargs)
        if not isinstance(body, dict) or "data" not in body:
            raise _unexpected(200, f"{method} {self.url_for(path)}", str(body))
        return body["data"]

    def _protocol(self, data: Any, described: str) -> Protocol:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise _unexpected(200, described, str(data))
        return Protocol(self, ProtocolData.from_json(data))

    def _session_data(self, data: Any, described: str) -> SessionData:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise _unexpected(200, described, str(data))
        return SessionData.from_json(data)

    # -- robot ---------------------------------------------------------------------------

    def health(self) -> Health:
        """``GET /health``: the robot's name and software versions (also a reachability check)."""
        body = self.request("GET", "/health")
        if not isinstance(body, dict) or "api_version" not in body:
            raise _unexpected(200, f"GET {self.url_for('/health')}", str(body))
        self._use_software(RobotSoftware.from_health(body, self.base_url))
        return Health.from_json(body)

    def attached(self) -> AttachedEquipment:
        """The pipettes on the robot's mounts and the modules plugged in (``GET /pipettes``,
        ``GET /modules``)."""
        pipettes = self.request("GET", "/pipettes")
        modules = self.request("GET", "/modules")
        if not isinstance(pipettes, dict) or not isinstance(modules, dict):
            described = f"GET {self.url_for('/pipettes')}, {self.url_for('/modules')}"
            raise _unexpected(200, described, f"{pipettes} {modules}")
        return AttachedEquipment.from_json(pipettes, modules)

    def preflight(self, protocol: str | Protocol) -> PreflightReport:
        """Check that the robot has the pipettes and modules ``protocol`` (an id or a
        :class:`Protocol`) needs (:mod:`ot2_notebook.client.preflight`); ``report.ok``."""
        stored = protocol if isinstance(protocol, Protocol) else self.protocol(protocol)
        return check_equipment(stored.id, stored.equipment, self.attached())

    def require_equipment(self, protocol: str | Protocol) -> PreflightReport:
        """:meth:`preflight`, raising :class:`EquipmentMismatchError` on a mismatch."""
        report = self.preflight(protocol)
        if not report.ok:
            raise EquipmentMismatchError(report)
        return report

    def settings(self) -> dict[str, Any]:
        """The robot's advanced settings, ``{id: value}`` (``None`` means default/off)."""
        return self._settings(self.request("GET", "/settings"), "GET")

    def set_setting(self, setting_id: str, value: Any) -> dict[str, Any]:
        """Change an advanced setting, e.g. ``set_setting("enableHttpProtocolSessions", True)``;
        returns all settings after the change."""
        body = self.request("POST", "/settings", json={"id": setting_id, "value": value})
        return self._settings(body, "POST")

    def _settings(self, body: Any, method: str) -> dict[str, Any]:
        items = body.get("settings") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise _unexpected(200, f"{method} {self.url_for('/settings')}", str(body))
        return {str(s["id"]): s.get("value") for s in items if isinstance(s, dict) and "id" in s}

    # -- protocols -------------------------------------------------------------------------

    def upload(
        self,
        protocol: FileInput,
        support: Iterable[FileInput] = (),
        *,
        replace: bool = False,
        raise_on_error: bool = True,
    ) -> Protocol:
        """Upload a protocol file and its support files; the robot analyses it at once.

        ``protocol`` and each ``support`` item are a path, or an in-memory
        ``(file name, bytes | str)`` pair. The protocol's id is its file name without the
        suffix (:func:`protocol_id_for`).

        ``replace=True`` first deletes a protocol already stored under that id, so re-running
        a notebook cell just works. The robot never holds a mix of old and new files: if the
        delete fails, the old protocol stays; if the upload then fails, the robot holds
        neither (the raised error says so), and uploading again restores it.

        Analysis errors do not make the upload fail on the robot (the protocol is stored with
        ``errors``). With ``raise_on_error=True`` (the default) they raise
        :class:`AnalysisError`, which carries the stored :class:`Protocol`; with ``False``
        the protocol is returned and ``protocol.errors`` tells.
        """
        name, files = upload_parts(protocol, support)  # names checked before anything is sent
        runs = self._runs()
        if runs is not None:
            read = [(part[1][0], part[1][1]) for part in files]
            result = Protocol(self, runs.upload(read[0], read[1:], replace=replace))
            if raise_on_error and result.errors:
                raise AnalysisError(result, f"POST {self.url_for('/protocols')}")
            return result
        protocol_id = protocol_id_for(name)
        replaced = self._delete_if_present(protocol_id) if replace else False
        described = f"POST {self.url_for('/protocols')}"
        try:
            data = self._data("POST", "/protocols", files=files)
        except UploadLimitError as exc:
            exc.occupants = tuple(self._protocol_ids_or_empty())
            raise
        except ProtocolExistsError as exc:
            raise ProtocolExistsError(
                exc.status,
                exc.error_id,
                exc.title,
                exc.detail,
                exc.request,
                source=exc.source,
                entries=exc.entries,
                protocol_id=protocol_id,
            ) from None
        except RobotError as exc:
            if replaced:
                exc.hint = (
                    f"The previous protocol '{protocol_id}' was deleted before this upload, so "
                    f"the robot now holds neither; upload it again. {exc.hint}"
                ).strip()
            raise
        result = self._protocol(data, described)
        if raise_on_error and result.errors:
            raise AnalysisError(result, described)
        return result

    def _delete_if_present(self, protocol_id: str) -> bool:
        """Delete a stored protocol; whether there was one."""
        try:
            self.delete_protocol(protocol_id)
        except NotFoundError:
            return False
        return True

    def _protocol_ids_or_empty(self) -> list[str]:
        try:
            return [p.id for p in self.protocols()]
        except RobotError:
            return []

    def protocols(self) -> list[Protocol]:
        """Every protocol stored on the robot."""
        runs = self._runs()
        if runs is not None:
            return [Protocol(self, data) for data in runs.protocols()]
        data = self._data("GET", "/protocols")
        described = f"GET {self.url_for('/protocols')}"
        if not isinstance(data, list):
            raise _unexpected(200, described, str(data))
        return [self._protocol(item, described) for item in data]

    def protocol(self, protocol_id: str) -> Protocol:
        """The protocol stored under ``protocol_id`` (:class:`NotFoundError` if none); on
        robot software 5+ the protocol's name (or the robot's UUID for it)."""
        runs = self._runs()
        if runs is not None:
            return Protocol(self, runs.protocol(protocol_id))
        path = f"/protocols/{quote(protocol_id, safe='')}"
        return self._protocol(self._data("GET", path), f"GET {self.url_for(path)}")

    def replace_file(
        self, protocol_id: str, file: FileInput, *, raise_on_error: bool = True
    ) -> Protocol:
        """Add or replace one file of a stored protocol (the protocol file itself if the name
        matches); the robot re-analyses it. Analysis errors as in :meth:`upload`.

        Robot software 5+ cannot change a stored protocol: upload the whole bundle again."""
        name, content = read_file(file, "file")
        if self._runs() is not None:
            raise RobotError(
                None,
                "NotSupported",
                "A stored protocol cannot be changed on this robot",
                "robot software 5+ stores a protocol as it was uploaded (no PATCH)",
                None,
                hint="Upload the whole bundle again with robot.upload(..., replace=True).",
            )
        path = f"/protocols/{quote(protocol_id, safe='')}"
        described = f"PATCH {self.url_for(path)}"
        result = self._protocol(
            self._data("PATCH", path, files=[multipart_part("file", name, content)]), described
        )
        if raise_on_error and result.errors:
            raise AnalysisError(result, described)
        return result

    def delete_protocol(self, protocol_id: str) -> Protocol:
        """Delete a stored protocol and its files; returns what was deleted (robot software 5+:
        every protocol stored under that name)."""
        runs = self._runs()
        if runs is not None:
            return Protocol(self, runs.delete_protocol(protocol_id))
        path = f"/protocols/{quote(protocol_id, safe='')}"
        return self._protocol(self._data("DELETE", path), f"DELETE {self.url_for(path)}")

    # -- sessions --------------------------------------------------------------------------

    def create_session(self, protocol: str | Protocol) -> Session:
        """Create a protocol session; the robot then loads (simulates) the protocol, so the
        session starts in ``stopped`` and becomes ``loaded`` (or ``error``): see
        :meth:`Session.wait_for`."""
        protocol_id = protocol.id if isinstance(protocol, Protocol) else protocol
        runs = self._runs()
        if runs is not None:
            if isinstance(protocol, Protocol) and protocol.robot_id:
                protocol_id = protocol.robot_id
            return Session(self, runs.create_run(protocol_id))
        body = {"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}}
        data = self._data("POST", "/sessions", json=body)
        return Session(self, self._session_data(data, f"POST {self.url_for('/sessions')}"))

    def sessions(self) -> list[Session]:
        """Every protocol session on the robot, oldest first (only the newest is active); on
        robot software 5+ every run, without its events until ``refresh()``."""
        runs = self._runs()
        if runs is not None:
            return [Session(self, data) for data in runs.runs()]
        data = self._data("GET", "/sessions", params={"session_type": "protocol"})
        described = f"GET {self.url_for('/sessions')}"
        if not isinstance(data, list):
            raise _unexpected(200, described, str(data))
        return [Session(self, self._session_data(item, described)) for item in data]

    def session(self, session_id: str) -> Session:
        """The session ``session_id`` (:class:`NotFoundError` if none)."""
        return Session(self, self.session_data(session_id))

    def session_data(self, session_id: str) -> SessionData:
        """``GET /sessions/{id}`` as plain data (what :class:`Session` and watchers poll)."""
        runs = self._runs()
        if runs is not None:
            return runs.run_data(session_id)
        path = f"/sessions/{quote(session_id, safe='')}"
        return self._session_data(self._data("GET", path), f"GET {self.url_for(path)}")

    def delete_session(self, session_id: str) -> SessionData:
        """Delete a session (cancelling its run); returns its final data."""
        runs = self._runs()
        if runs is not None:
            return runs.delete_run(session_id)
        path = f"/sessions/{quote(session_id, safe='')}"
        return self._session_data(self._data("DELETE", path), f"DELETE {self.url_for(path)}")

    def execute(self, session_id: str, command: str) -> CommandResult:
        """``POST /sessions/{id}/commands/execute``: run one session command (robot software
        5+: the run action it stands for)."""
        runs = self._runs()
        if runs is not None:
            return runs.action(session_id, command)
        path = f"/sessions/{quote(session_id, safe='')}/commands/execute"
        data = self._data("POST", path, json={"data": {"command": command, "data": {}}})
        if not isinstance(data, dict):
            raise _unexpected(200, f"POST {self.url_for(path)}", str(data))
        return CommandResult.from_json(data)


class Protocol:
    """A protocol stored on the robot: its files, metadata, required equipment and analysis
    errors (``errors`` is empty when the analysis succeeded)."""

    def __init__(self, client: RobotClient, data: ProtocolData) -> None:
        self.client = client
        self.data = data

    def __repr__(self) -> str:
        status = f"{len(self.errors)} error(s)" if self.errors else "ok"
        return f"<Protocol {self.id!r} files={list(self.files)} {status}>"

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def files(self) -> tuple[str, ...]:
        """The protocol file first, then the support files."""
        return self.data.files

    @property
    def protocol_file(self) -> str:
        return self.data.protocol_file

    @property
    def support_files(self) -> tuple[str, ...]:
        return self.data.support_files

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.data.metadata

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def errors(self) -> tuple[ProtocolErrorInfo, ...]:
        return self.data.errors

    @property
    def equipment(self) -> Equipment:
        return self.data.equipment

    @property
    def estimated_duration(self) -> float | None:
        """Estimated run time in seconds, when the robot sends one (``ot2-sim`` does)."""
        return self.data.estimated_duration

    @property
    def robot_id(self) -> str | None:
        """The robot's own id of the protocol (robot software 5+: a UUID; ``None`` on 4.x,
        where it is :attr:`id`)."""
        return self.data.robot_id

    @property
    def stored(self) -> bool:
        """Whether the robot stores it (robot software 5+ refuses some uploads outright:
        :attr:`errors` says why)."""
        return self.data.stored

    @property
    def created_at(self) -> datetime | None:
        return self.data.created_at

    @property
    def last_modified_at(self) -> datetime | None:
        return self.data.last_modified_at

    def refresh(self) -> Protocol:
        """Re-read the protocol from the robot; returns ``self``."""
        self.data = self.client.protocol(self.id).data
        return self

    def delete(self) -> None:
        """Delete the protocol (and its files) from the robot."""
        self.client.delete_protocol(self.id)

    def replace_file(self, file: FileInput, *, raise_on_error: bool = True) -> Protocol:
        """Add or replace one file; the robot re-analyses. Returns ``self`` (updated)."""
        self.data = self.client.replace_file(self.id, file, raise_on_error=False).data
        if raise_on_error and self.errors:
            raise AnalysisError(self)
        return self

    def create_session(self) -> Session:
        return self.client.create_session(self.id)


class _PendingCommand:
    """A command issued through a :class:`Session` whose effect polling may not show yet.

    After ``startRun`` from ``finished`` (or ``startSimulate`` from ``loaded``) the session
    returns to the very state it was in; a poll right after the command can still show the
    old state. A snapshot shows the command's effect once the state differs from the one
    before, or the command's own event is followed by later events, or ``grace`` seconds
    passed (a protocol with no step at all).
    """

    grace = 1.0

    def __init__(self, command_id: str, state_before: str) -> None:
        self.command_id = command_id
        self.state_before = state_before
        self.issued_at = time.monotonic()

    def reflected_in(self, data: SessionData) -> bool:
        if data.state != self.state_before:
            return True
        for index, event in enumerate(data.events):
            if event.source == "sessionCommand" and event.command_id == self.command_id:
                return index < len(data.events) - 1
        return time.monotonic() - self.issued_at > self.grace


class Session:
    """A protocol session on the robot: run controls, state, events and error.

    ``state`` and ``events`` are those of the last answer from the robot; commands change the
    state in the background, so read it again with :meth:`refresh` or wait for one with
    :meth:`wait_for`.
    """

    def __init__(self, client: RobotClient, data: SessionData) -> None:
        self.client = client
        self.data = data
        self._pending: _PendingCommand | None = None

    def __repr__(self) -> str:
        return f"<Session {self.id} protocol={self.protocol_id!r} state={self.state!r}>"

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def protocol_id(self) -> str:
        return self.data.protocol_id

    @property
    def state(self) -> str:
        return self.data.state

    @property
    def events(self) -> list[SessionEvent]:
        return list(self.data.events)

    @property
    def steps(self) -> list[SessionEvent]:
        """The protocol steps that started, in order (``event.text`` says what they do)."""
        return [e for e in self.data.events if e.is_step_start]

    @property
    def error(self) -> ProtocolErrorInfo | None:
        """The run's error, if the robot reports one (the simulator does, 4.x robots do not)."""
        return self.data.error

    @property
    def created_at(self) -> datetime | None:
        return self.data.created_at

    @property
    def robot_status(self) -> str | None:
        """The robot's own run status (robot software 5+: ``idle``, ``succeeded`` ...), which
        :attr:`state` shows as a session state; ``None`` on 4.x."""
        return self.data.robot_status

    @property
    def allowed_commands(self) -> frozenset[str]:
        """The commands the robot accepts in the current ``state``."""
        return self.commands_allowed(self.state)

    def commands_allowed(self, state: str | None) -> frozenset[str]:
        """The commands this robot accepts from a session (or run) in ``state``: a 4.x
        session can run again once finished; a run of robot software 5+ runs once."""
        table = (
            states.RUNS_ALLOWED_COMMANDS if self.client.uses_runs_api else states.ALLOWED_COMMANDS
        )
        return table.get(state or "", frozenset())

    # -- commands --------------------------------------------------------------------------

    def execute(self, command: str) -> CommandResult:
        """Run a session command (``protocol.startRun`` ...); the state changes afterwards."""
        state_before = self.state
        result = self.client.execute(self.id, command)
        if command in (states.START_RUN, states.START_SIMULATE):
            self._pending = _PendingCommand(result.id, state_before)
        return result

    def start(self, *, check_equipment: bool = True) -> CommandResult:
        """Start the run (from ``loaded`` or ``finished``).

        First checks that the robot has the pipettes and modules the protocol needs
        (:meth:`RobotClient.require_equipment`): a mismatch raises
        :class:`EquipmentMismatchError` naming the mount, what is wanted and what is attached,
        and nothing starts. ``check_equipment=False`` skips it (the robot still checks when
        the run loads each instrument). The check is skipped when the protocol is no longer
        on the robot (a session may outlive it).
        """
        if check_equipment:
            try:
                self.client.require_equipment(self.protocol_id)
            except NotFoundError as exc:
                if exc.resource_type != "protocol":
                    raise
        return self.execute(states.START_RUN)

    def start_simulate(self) -> CommandResult:
        """Simulate the protocol again (from ``loaded`` or ``finished``)."""
        return self.execute(states.START_SIMULATE)

    def pause(self) -> CommandResult:
        return self.execute(states.PAUSE)

    def resume(self) -> CommandResult:
        return self.execute(states.RESUME)

    def cancel(self) -> CommandResult:
        """Cancel the run; the session ends in ``stopped`` and accepts no more commands."""
        return self.execute(states.CANCEL)

    def refresh(self) -> Session:
        """Read the session from the robot again; returns ``self``."""
        self.data = self.client.session_data(self.id)
        return self

    def delete(self) -> Session:
        """Delete the session (cancelling a run in progress); returns ``self`` with the final
        data the robot sent."""
        self.data = self.client.delete_session(self.id)
        return self

    def protocol(self) -> Protocol:
        return self.client.protocol(self.data.protocol_robot_id or self.protocol_id)

    # -- waiting -----------------------------------------------------------------------------

    def wait_for(
        self,
        state: str | Iterable[str],
        timeout: float = 60.0,
        *,
        poll_interval: float = 0.05,
        max_interval: float = 1.0,
    ) -> Session:
        """Poll until the session is in ``state`` (or one of several); returns ``self``.

        Polls start every ``poll_interval`` s and back off to ``max_interval``. Raises
        :class:`RunError` if the session ends in ``error`` (unless ``"error"`` is awaited),
        :class:`RunCancelledError` if the run was cancelled, :class:`SessionTimeoutError`
        naming the state it is stuck in after ``timeout`` s, and :class:`NotFoundError` if the
        session was deleted. Polls that time out are retried for up to :data:`BUSY_GRACE` s
        (a 4.x robot answers nothing while it stops a run).

        Right after :meth:`start` from ``finished`` a poll can still show the previous run's
        ``finished``: such a stale answer is not taken as the target (see ``_PendingCommand``).
        """
        targets = (state,) if isinstance(state, str) else tuple(state)
        unknown = [s for s in targets if s not in states.STATES]
        if not targets or unknown:
            raise ValueError(
                f"Unknown session state(s) {unknown or targets!r}: use one of "
                f"{', '.join(states.STATES)}."
            )
        start = time.monotonic()
        deadline = start + timeout
        interval = poll_interval
        seen: set[str] = set()
        last_state: str | None = None
        state_since = start
        silent_since: float | None = None
        while True:
            try:
                self.refresh()
            except RobotTimeoutError:
                # A 4.x robot answers nothing while it stops a run (11-14 s recorded): busy,
                # not lost, unless that lasts longer than BUSY_GRACE or the wait's timeout.
                now = time.monotonic()
                silent_since = now if silent_since is None else silent_since
                if now >= deadline or now - silent_since >= BUSY_GRACE:
                    raise
                continue
            silent_since = None
            now = time.monotonic()
            data = self.data
            if data.state != last_state:
                last_state, state_since, interval = data.state, now, poll_interval
            current = self._pending is None or self._pending.reflected_in(data)
            if current:
                self._pending = None
                if data.state in targets:
                    return self
                seen.add(data.state)
            if data.state == states.ERROR:
                raise self._run_error()
            if data.state == states.STOPPED and self._was_cancelled(data, seen):
                raise RunCancelledError(self, targets)
            if now >= deadline:
                raise SessionTimeoutError(self, targets, timeout, now - state_since)
            time.sleep(min(interval, max(deadline - now, 0.0)))
            interval = min(interval * 1.5, max_interval)

    @staticmethod
    def _was_cancelled(data: SessionData, seen: set[str]) -> bool:
        """``stopped`` is both "still loading" and "cancelled": it is the latter after a
        ``protocol.cancel`` command, or after the run was seen going."""
        if seen & {states.RUNNING, states.PAUSED}:
            return True
        return any(e.source == "sessionCommand" and e.event == states.CANCEL for e in data.events)

    def _run_error(self) -> RunError:
        """The error of a session in ``error``; when the robot gives no reason (4.x robots
        never do), the protocol's analysis errors or the check of the attached hardware may."""
        analysis: tuple[ProtocolErrorInfo, ...] = ()
        equipment: PreflightReport | None = None
        if self.error is None:
            try:
                protocol = self.client.protocol(self.protocol_id)
                analysis = protocol.errors
                if not analysis:
                    equipment = self.client.preflight(protocol)
            except RobotError:
                pass
        return RunError(self, self.error, analysis, equipment)

    # -- views -------------------------------------------------------------------------------

    def events_dataframe(self) -> pandas.DataFrame:
        """The session's events as a table: time, source, event, step, command id, text."""
        import pandas as pd

        columns = ["timestamp", "source", "event", "step", "command_id", "text"]
        return pd.DataFrame(
            [
                {
                    "timestamp": e.timestamp,
                    "source": e.source,
                    "event": e.event,
                    "step": e.step_name if e.source == "protocol" else None,
                    "command_id": e.command_id,
                    "text": e.text,
                }
                for e in self.data.events
            ],
            columns=columns,
        )

    def watch(
        self,
        on_change: Callable[[str | None, str], None] | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        **options: Any,
    ) -> SessionWatcher:
        """Start a :class:`~ot2_notebook.client.watcher.SessionWatcher` for this session."""
        from ot2_notebook.client.watcher import SessionWatcher

        return SessionWatcher(self.client, self.id, on_change=on_change, on_step=on_step, **options)
