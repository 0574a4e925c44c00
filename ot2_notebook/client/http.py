"""``RobotClient``: the OT-2 HTTP API of robot software 4.x (experimental protocol sessions).

One :class:`requests.Session` per client (connection reuse), the ``Opentrons-Version: 2``
header on every request, and every failure turned into a :class:`RobotError` that says what
to do. :class:`Protocol` and :class:`Session` are live handles over the plain data classes of
:mod:`ot2_notebook.client.models`: they keep a reference to the client so that
``proto.delete()`` or ``session.start()`` need no other argument.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from ot2_notebook import session_states as states
from ot2_notebook.client.errors import (
    AnalysisError,
    NotFoundError,
    ProtocolExistsError,
    RobotError,
    RobotTimeoutError,
    RobotUnreachableError,
    RunCancelledError,
    RunError,
    SessionTimeoutError,
    UnexpectedResponseError,
    UploadLimitError,
    error_from_response,
)
from ot2_notebook.client.models import (
    CommandResult,
    Equipment,
    Health,
    ProtocolData,
    ProtocolErrorInfo,
    SessionData,
    SessionEvent,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    import pandas

    from ot2_notebook.notifications import SessionWatcher, StepEvent

__all__ = [
    "FileInput",
    "Protocol",
    "RobotClient",
    "Session",
    "normalize_url",
    "notifications_url",
    "protocol_id_for",
]

#: A file to upload: a path on disk, or an in-memory ``(file name, content)`` pair (so that
#: notebook cells can be uploaded without temporary files).
FileInput = Union[str, "os.PathLike[str]", tuple[str, bytes | str]]

API_VERSION = "2"
DEFAULT_URL = "http://127.0.0.1:31950"
DEFAULT_PORT = 31950

_CONTENT_TYPES = {
    ".py": "text/x-python",
    ".json": "application/json",
    ".csv": "text/csv",
    ".txt": "text/plain",
}


def protocol_id_for(filename: str) -> str:
    """The id the robot gives a protocol file: its name without the last suffix
    (``my_protocol.py`` -> ``my_protocol``, ``protocol.ot2.py`` -> ``protocol.ot2``)."""
    name = os.path.basename(filename)
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def normalize_url(url: str) -> str:
    """``10.0.0.5`` -> ``http://10.0.0.5:31950``; a URL with a scheme is kept as given.

    Scientists type the robot's IP as the Opentrons App shows it; the HTTP API is always on
    port 31950, so a bare host gets that port.
    """
    text = url.strip()
    if not text:
        raise ValueError("The robot URL is empty: pass e.g. 'http://127.0.0.1:31950'.")
    if "://" not in text:
        host = text.rstrip("/")
        text = (
            f"http://{host}" if ":" in host.rsplit("]", 1)[-1] else f"http://{host}:{DEFAULT_PORT}"
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not a robot URL: pass e.g. 'http://127.0.0.1:31950' or the robot's IP."
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def notifications_url(base_url: str, topics: Iterable[str]) -> str:
    """The notification feed's websocket URL for the robot at ``base_url``."""
    parts = urlsplit(normalize_url(base_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = "&".join(f"topic={quote(t, safe='')}" for t in topics)
    path = parts.path + "/notifications/subscribe"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _check_name(name: str, role: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    if not name or base != name or name in (".", ".."):
        raise ValueError(
            f"{role} name {name!r} must be a plain file name like 'helpers.py' (no folders): "
            "the robot stores every file of a protocol side by side."
        )
    return name


def _read_file(item: FileInput, role: str) -> tuple[str, bytes]:
    """``(name, content)`` for a path or an in-memory pair."""
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[0], str):
            raise TypeError(f"{role} must be a path or a (file name, content) pair, not {item!r}")
        name, content = item
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"{role} {name!r}: content must be bytes or str, not {type(content)}")
        return _check_name(name, role), bytes(content)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return _check_name(path.name, role), path.read_bytes()
    raise TypeError(f"{role} must be a path or a (file name, content) pair, not {item!r}")


def _multipart(field: str, name: str, content: bytes) -> tuple[str, tuple[str, bytes, str]]:
    content_type = _CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return (field, (name, content, content_type))


class RobotClient:
    """A client for one OT-2 (or ``ot2-sim``) at ``base_url``.

    ``timeout`` bounds each request (seconds to wait for an answer); connecting is bounded
    by ``min(timeout, 5)`` so a wrong IP fails fast. Use it as a context manager, or call
    :meth:`close`, to release its connections.
    """

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 30.0) -> None:
        self.base_url = normalize_url(base_url)
        self.timeout = float(timeout)
        self._http = requests.Session()
        self._http.headers["Opentrons-Version"] = API_VERSION

    # -- plumbing ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"RobotClient({self.base_url!r})"

    def __enter__(self) -> RobotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled HTTP connections (the client can still be used afterwards)."""
        self._http.close()

    def copy(self) -> RobotClient:
        """A new client for the same robot with its own connections (one per thread)."""
        return RobotClient(self.base_url, timeout=self.timeout)

    def url_for(self, path: str) -> str:
        return self.base_url + path

    def notifications_url(self, topics: Iterable[str]) -> str:
        """``ws://HOST:PORT/notifications/subscribe?topic=A&topic=B`` for this robot."""
        return notifications_url(self.base_url, topics)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; raise :class:`RobotError`.

        Public so that endpoints this client does not wrap stay reachable with the same
        headers and error handling.
        """
        url = self.url_for(path)
        described = f"{method} {url}"
        try:
            response = self._http.request(
                method,
                url,
                json=json,
                files=files,
                params=params,
                timeout=(min(self.timeout, 5.0), self.timeout),
            )
        except requests.Timeout as exc:
            if isinstance(exc, requests.ConnectTimeout):
                raise RobotUnreachableError(
                    self.base_url, "the connection timed out", described
                ) from exc
            raise RobotTimeoutError(self.base_url, self.timeout, described) from exc
        except requests.ConnectionError as exc:
            raise RobotUnreachableError(self.base_url, _connection_reason(exc), described) from exc
        except requests.RequestException as exc:
            raise RobotUnreachableError(self.base_url, str(exc), described) from exc
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code, response.content, reason=response.reason, request=described
            )
        try:
            return response.json()
        except ValueError as exc:
            raise _unexpected(response.status_code, described, response.text) from exc

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
        return Health.from_json(body)

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
        name, content = _read_file(protocol, "protocol file")
        files = [_multipart("protocolFile", name, content)]
        seen = {name}
        for item in support:
            support_name, support_content = _read_file(item, "support file")
            if support_name in seen:
                raise ValueError(
                    f"Two files named {support_name!r} in one upload: the robot keeps one file "
                    "per name; rename or drop one of them."
                )
            seen.add(support_name)
            files.append(_multipart("supportFiles", support_name, support_content))
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
        data = self._data("GET", "/protocols")
        described = f"GET {self.url_for('/protocols')}"
        if not isinstance(data, list):
            raise _unexpected(200, described, str(data))
        return [self._protocol(item, described) for item in data]

    def protocol(self, protocol_id: str) -> Protocol:
        """The protocol stored under ``protocol_id`` (:class:`NotFoundError` if none)."""
        path = f"/protocols/{quote(protocol_id, safe='')}"
        return self._protocol(self._data("GET", path), f"GET {self.url_for(path)}")

    def replace_file(
        self, protocol_id: str, file: FileInput, *, raise_on_error: bool = True
    ) -> Protocol:
        """Add or replace one file of a stored protocol (the protocol file itself if the name
        matches); the robot re-analyses it. Analysis errors as in :meth:`upload`."""
        name, content = _read_file(file, "file")
        path = f"/protocols/{quote(protocol_id, safe='')}"
        described = f"PATCH {self.url_for(path)}"
        result = self._protocol(
            self._data("PATCH", path, files=[_multipart("file", name, content)]), described
        )
        if raise_on_error and result.errors:
            raise AnalysisError(result, described)
        return result

    def delete_protocol(self, protocol_id: str) -> Protocol:
        """Delete a stored protocol and its files; returns what was deleted."""
        path = f"/protocols/{quote(protocol_id, safe='')}"
        return self._protocol(self._data("DELETE", path), f"DELETE {self.url_for(path)}")

    # -- sessions --------------------------------------------------------------------------

    def create_session(self, protocol: str | Protocol) -> Session:
        """Create a protocol session; the robot then loads (simulates) the protocol, so the
        session starts in ``stopped`` and becomes ``loaded`` (or ``error``): see
        :meth:`Session.wait_for`."""
        protocol_id = protocol.id if isinstance(protocol, Protocol) else protocol
        body = {"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}}
        data = self._data("POST", "/sessions", json=body)
        return Session(self, self._session_data(data, f"POST {self.url_for('/sessions')}"))

    def sessions(self) -> list[Session]:
        """Every protocol session on the robot, oldest first (only the newest is active)."""
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
        path = f"/sessions/{quote(session_id, safe='')}"
        return self._session_data(self._data("GET", path), f"GET {self.url_for(path)}")

    def delete_session(self, session_id: str) -> SessionData:
        """Delete a session (cancelling its run); returns its final data."""
        path = f"/sessions/{quote(session_id, safe='')}"
        return self._session_data(self._data("DELETE", path), f"DELETE {self.url_for(path)}")

    def execute(self, session_id: str, command: str) -> CommandResult:
        """``POST /sessions/{id}/commands/execute``: run one session command."""
        path = f"/sessions/{quote(session_id, safe='')}/commands/execute"
        data = self._data("POST", path, json={"data": {"command": command, "data": {}}})
        if not isinstance(data, dict):
            raise _unexpected(200, f"POST {self.url_for(path)}", str(data))
        return CommandResult.from_json(data)


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused (nothing listens on that port)"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or ("getaddrinfo failed" in lowered or "name resolution" in lowered)
    ):
        return "unknown host name"
    if "no route to host" in lowered or "unreachable" in lowered:
        return "no route to the host"
    if "reset" in lowered or "aborted" in lowered or "remote end closed" in lowered:
        return "the connection was dropped"
    return text


def _unexpected(status: int, described: str, text: str) -> UnexpectedResponseError:
    snippet = " ".join(text.split())[:200]
    return UnexpectedResponseError(
        status,
        None,
        "Unexpected answer from the server",
        f"this is not what an OT-2 robot-server 4.x sends: {snippet!r}",
        described,
    )


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
    def allowed_commands(self) -> frozenset[str]:
        """The commands the robot accepts in the current ``state``."""
        return states.ALLOWED_COMMANDS.get(self.state, frozenset())

    # -- commands --------------------------------------------------------------------------

    def execute(self, command: str) -> CommandResult:
        """Run a session command (``protocol.startRun`` ...); the state changes afterwards."""
        state_before = self.state
        result = self.client.execute(self.id, command)
        if command in (states.START_RUN, states.START_SIMULATE):
            self._pending = _PendingCommand(result.id, state_before)
        return result

    def start(self) -> CommandResult:
        """Start the run (from ``loaded`` or ``finished``)."""
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
        return self.client.protocol(self.protocol_id)

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
        session was deleted.

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
        while True:
            self.refresh()
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
        analysis: tuple[ProtocolErrorInfo, ...] = ()
        if self.error is None:
            try:
                analysis = self.client.protocol(self.protocol_id).errors
            except RobotError:
                analysis = ()
        return RunError(self, self.error, analysis)

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
        """Start a :class:`~ot2_notebook.notifications.SessionWatcher` for this session."""
        from ot2_notebook.notifications import SessionWatcher

        return SessionWatcher(self.client, self.id, on_change=on_change, on_step=on_step, **options)
