"""Every RobotError subclass, provoked for real: against ``ot2-sim``, against a port where
nothing listens, against a server that accepts but never answers, and against a web server
that is not a robot. Each message must say what happened and what to do."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook.client import (
    CommandNotAllowedError,
    FeatureDisabledError,
    NotFoundError,
    ProtocolExistsError,
    RobotClient,
    RobotError,
    RobotTimeoutError,
    RobotUnreachableError,
    RunCancelledError,
    RunError,
    SessionNotActiveError,
    SessionTimeoutError,
    UnexpectedResponseError,
    UploadLimitError,
)
from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import DILUTION, DILUTION_SUPPORT, PROTOCOLS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the robot is not there ----------------------------------------------------------------


def test_nothing_listening_names_the_url_and_the_ways_out() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with RobotClient(url) as robot, pytest.raises(RobotUnreachableError) as caught:
        robot.health()
    error = caught.value
    text = str(error)
    assert url in text
    assert "connection refused" in text
    assert "ot2-sim" in text and "%ot2_connect --simulate" in text and "IP address" in text
    assert error.status is None
    assert isinstance(error, ConnectionError) and isinstance(error, RobotError)


def test_unknown_host_name() -> None:
    with RobotClient("http://no-such-robot.invalid:31950") as robot:
        with pytest.raises(RobotUnreachableError, match=r"no-such-robot\.invalid"):
            robot.protocols()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections (kernel backlog) and never answers: a hung robot."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_robot_that_does_not_answer_times_out(silent_server: str) -> None:
    with RobotClient(silent_server, timeout=0.5) as robot:
        with pytest.raises(RobotTimeoutError) as caught:
            robot.sessions()
    text = str(caught.value)
    assert "did not answer in time" in text and "0.5 s" in text
    assert "timeout=" in caught.value.hint
    assert isinstance(caught.value, TimeoutError)


class _NotARobot(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            payload = b"<html><body><h1>Jupyter Server</h1></body></html>"
            self.send_response(200)
        else:
            payload = b"<html><body>404: Not Found</body></html>"
            self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotARobot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_web_server_that_is_not_a_robot(web_server: str) -> None:
    with RobotClient(web_server) as robot:
        with pytest.raises(UnexpectedResponseError) as caught:
            robot.health()
        assert "31950" in str(caught.value) and "Jupyter Server" in str(caught.value)
        with pytest.raises(UnexpectedResponseError):
            robot.protocol("x")  # an HTML 404 is not the robot's "no such protocol"


class _KeepAliveServer(http.server.ThreadingHTTPServer):
    """Records each request it reads, as (connection number, method, path)."""

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.seen: list[tuple[int, str, str]] = []
        self.connections = 0
        self.release = threading.Event()  # set at teardown: a held request ends


class _DropsTheSecondRequest(http.server.BaseHTTPRequestHandler):
    """Answers the first request on a connection and drops the connection under the second,
    unanswered: what a server's close of an idle keep-alive connection does to a request
    that crosses it (a race that cannot be provoked on purpose against a real server)."""

    protocol_version = "HTTP/1.1"
    server: _KeepAliveServer

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.connection_number = self.server.connections
        self.answered = 0

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.connection_number, self.command, self.path))
        if self.path == "/hold":
            self.server.release.wait(30)
        if self.answered:
            self.close_connection = True
            return
        self.answered += 1
        payload = b'{"data": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def dropping_server() -> Iterator[_KeepAliveServer]:
    server = _KeepAliveServer(_DropsTheSecondRequest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _url(server: _KeepAliveServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_read_whose_pooled_connection_dropped_is_sent_again_on_a_new_one(
    dropping_server: _KeepAliveServer,
) -> None:
    with RobotClient(_url(dropping_server)) as robot:
        assert robot.transport.request("GET", "/first") == {"data": "ok"}
        assert robot.transport.request("GET", "/second") == {"data": "ok"}
    assert dropping_server.seen == [
        (1, "GET", "/first"),
        (1, "GET", "/second"),
        (2, "GET", "/second"),
    ]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_nothing_but_a_read_is_sent_twice(dropping_server: _KeepAliveServer, method: str) -> None:
    """A repeated POST could create a second session or run a command twice on a robot."""
    with RobotClient(_url(dropping_server)) as robot:
        robot.transport.request("GET", "/first")
        with pytest.raises(RobotUnreachableError, match="the connection was dropped"):
            robot.transport.request(method, "/sessions")
    assert dropping_server.seen == [(1, "GET", "/first"), (1, method, "/sessions")]


def test_a_read_that_timed_out_is_not_asked_again(dropping_server: _KeepAliveServer) -> None:
    """A robot that does not answer may be stuck (SPEC section 6): one request, one timeout."""
    with RobotClient(_url(dropping_server), timeout=0.5) as robot:
        with pytest.raises(RobotTimeoutError):
            robot.transport.request("GET", "/hold")
    assert dropping_server.seen == [(1, "GET", "/hold")]


# -- feature flag --------------------------------------------------------------------------


def test_feature_flag_off(start_sim: Callable[..., SimulatorHandle]) -> None:
    handle = start_sim(protocol_sessions=False, max_protocols=2)
    with RobotClient(handle.url) as robot:
        robot.upload(DILUTION, support=DILUTION_SUPPORT)
        with pytest.raises(FeatureDisabledError) as caught:
            robot.create_session("serial_dilution")
        text = str(caught.value)
        assert "HTTP Protocol Session feature is disabled" in text
        assert "Advanced Settings" in text and "Enable Experimental HTTP Protocol Sessions" in text
        assert caught.value.status == 403

        settings = robot.set_setting("enableHttpProtocolSessions", True)
        assert settings["enableHttpProtocolSessions"] is True
        session = robot.create_session("serial_dilution")  # the advice works
        assert session.wait_for("loaded", timeout=30).state == "loaded"


# -- protocols -----------------------------------------------------------------------------


def test_upload_limit_names_the_protocol_in_the_way(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    handle = start_sim(max_protocols=1)  # as a real OT-2
    with RobotClient(handle.url) as robot:
        robot.upload(("first_experiment.py", "metadata={'apiLevel':'2.13'}\ndef run(ctx): pass\n"))
        with pytest.raises(UploadLimitError) as caught:
            robot.upload(DILUTION, support=DILUTION_SUPPORT)
        error = caught.value
        assert error.occupants == ("first_experiment",)
        assert error.limit == 1
        text = str(error)
        assert "Upload limit of 1 has been reached" in text
        assert "'first_experiment'" in text
        assert "robot.delete_protocol('first_experiment')" in text

        robot.delete_protocol("first_experiment")  # the advice works
        assert robot.upload(DILUTION, support=DILUTION_SUPPORT).id == "serial_dilution"


def test_replace_that_fails_says_the_robot_holds_neither(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    handle = start_sim(max_upload_mb=1)
    with RobotClient(handle.url) as robot:
        robot.upload(("assay.py", "metadata={'apiLevel':'2.13'}\ndef run(ctx): pass\n"))
        too_big = "metadata={'apiLevel':'2.13'}\ndef run(ctx): pass\n#" + "x" * 2_000_000
        with pytest.raises(RobotError) as caught:
            robot.upload(("assay.py", too_big), replace=True)
        assert caught.value.status == 413
        assert "deleted before this upload" in str(caught.value)
        assert robot.protocols() == []  # what the message says is true


def test_same_protocol_twice(robot: RobotClient) -> None:
    robot.upload(DILUTION, support=DILUTION_SUPPORT)
    with pytest.raises(ProtocolExistsError) as caught:
        robot.upload(DILUTION, support=DILUTION_SUPPORT)
    assert caught.value.protocol_id == "serial_dilution"
    assert caught.value.status == 403 and caught.value.title == "Resource Exists"
    assert "replace=True" in str(caught.value)
    assert robot.upload(DILUTION, support=DILUTION_SUPPORT, replace=True).id == "serial_dilution"


def test_unknown_ids(robot: RobotClient) -> None:
    for call in (
        lambda: robot.protocol("nope"),
        lambda: robot.delete_protocol("nope"),
        lambda: robot.replace_file("nope", ("a.py", "x")),
        lambda: robot.create_session("nope"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert (caught.value.resource_type, caught.value.resource_id) == ("protocol", "nope")
        assert "robot.protocols()" in str(caught.value)
    with pytest.raises(NotFoundError) as session_caught:
        robot.session("nope")
    assert session_caught.value.resource_type == "session"
    assert "create_session" in str(session_caught.value)


# -- sessions ------------------------------------------------------------------------------


def loaded_session(robot: RobotClient, path: Path = DILUTION, **kwargs: Any) -> Any:
    support = DILUTION_SUPPORT if path == DILUTION else []
    proto = robot.upload(path, support=support, replace=True, **kwargs)
    session = robot.create_session(proto)
    return session.wait_for("loaded", timeout=30)


def test_command_not_allowed_in_this_state(robot: RobotClient) -> None:
    session = loaded_session(robot)
    with pytest.raises(CommandNotAllowedError) as caught:
        session.pause()
    error = caught.value
    assert (error.command, error.state) == ("protocol.pause", "loaded")
    assert "startRun" in str(error)
    assert session.allowed_commands == {"protocol.startRun", "protocol.startSimulate"}


def test_only_the_newest_session_takes_commands(robot: RobotClient) -> None:
    older = loaded_session(robot)
    newer = robot.create_session(older.protocol_id)
    with pytest.raises(SessionNotActiveError) as caught:
        older.start()
    assert older.id in caught.value.detail
    assert "newest session" in str(caught.value)
    newer.wait_for("loaded", timeout=30)


def test_run_error_carries_the_error_and_the_line(robot: RobotClient) -> None:
    session = loaded_session(robot, PROTOCOLS / "fails_on_robot.py")
    session.start()
    with pytest.raises(RunError) as caught:
        session.wait_for("finished", timeout=60)
    error = caught.value
    assert error.session is session and session.state == "error"
    assert error.error is not None and session.error == error.error
    assert "the tip rack is empty" in error.error.description
    assert error.line == 10 and error.file == "fails_on_robot.py"
    assert "fails_on_robot.py, line 10" in str(error)
    # Waiting for "error" itself is not a failure.
    assert session.wait_for("error", timeout=5).state == "error"


def test_load_error_explains_itself(robot: RobotClient) -> None:
    proto = robot.upload(PROTOCOLS / "raises.py", raise_on_error=False)
    session = robot.create_session(proto)
    with pytest.raises(RunError) as caught:
        session.wait_for("loaded", timeout=30)
    text = str(caught.value)
    assert "volume must be positive" in text
    assert "ended in state 'error'" in text


def test_waiting_for_a_cancelled_run(start_sim: Callable[..., SimulatorHandle]) -> None:
    handle = start_sim(speed=2.0, max_protocols=3)
    with RobotClient(handle.url) as robot:
        session = loaded_session(robot, PROTOCOLS / "slow_steps.py")
        session.start()
        session.wait_for("running", timeout=30)
        session.cancel()
        with pytest.raises(RunCancelledError) as caught:
            session.wait_for("finished", timeout=30)
        assert "create_session('slow_steps')" in str(caught.value)
        assert session.state == "stopped"


def test_wait_for_times_out_naming_the_state(robot: RobotClient) -> None:
    session = loaded_session(robot)
    with pytest.raises(SessionTimeoutError) as caught:
        session.wait_for("finished", timeout=0.3)
    error = caught.value
    assert error.state == "loaded"
    text = str(error)
    assert "did not reach 'finished' within 0.3 s" in text
    assert "in state 'loaded'" in text
    assert "session.start()" in text
    assert isinstance(error, TimeoutError)
