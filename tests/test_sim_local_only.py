"""Only this machine's own programs and pages may reach the simulated robot (issue 18).

The simulator runs uploaded Python. A web page could reach its loopback port by DNS
rebinding (``Host: evil.example:PORT``) or by cross-site requests and websockets (a foreign
``Origin``). Real HTTP and websocket connections to real simulators check that such requests
are refused before anything runs (the protocol below would leave a marker file at import),
that this machine's programs and pages are served (loopback names and addresses, IPv6
included), and that a name allowed with ``--allow-host`` is served. ``requests`` and
``websocket-client`` send the ``Host`` and ``Origin`` they are given; raw sockets send what
no client library would (no ``Host``, two of them).
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import VERSION, Api

MARKER_PROTOCOL = """import pathlib

pathlib.Path({marker!r}).write_text("the protocol's module code ran")

metadata = {{"apiLevel": "2.13"}}


def run(ctx):
    ctx.comment("hello")
"""


_UPLOADS = itertools.count()  # each upload leaves (or not) its own marker


@pytest.fixture(scope="module")
def local_sim(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SimulatorHandle, Path]]:
    """A simulator of this module's own (it uploads a protocol that writes outside its
    folder), with one name allowed besides loopback."""
    from ot2_notebook.simulator import start

    with start(port=0, max_protocols=5, allow_hosts=["ot2-sim.lab"]) as handle:
        yield handle, tmp_path_factory.mktemp("markers")


@pytest.fixture
def sim_url(local_sim: tuple[SimulatorHandle, Path]) -> Iterator[str]:
    handle, _ = local_sim
    yield handle.url
    with Api(handle.url) as api:
        api.clean()


@pytest.fixture
def upload_marker(local_sim: tuple[SimulatorHandle, Path]) -> Callable[..., tuple[Any, Path]]:
    """Upload the marker protocol with the given headers; returns the reply and the marker's
    path (which exists only if the protocol's code ran)."""
    handle, markers = local_sim

    def upload(url: str | None = None, **headers: str) -> tuple[requests.Response, Path]:
        n = next(_UPLOADS)
        marker = markers / f"marker_{n}"
        source = MARKER_PROTOCOL.format(marker=str(marker)).encode()
        reply = requests.post(
            (url or handle.url) + "/protocols",
            headers={**VERSION, **headers},
            files=[("protocolFile", (f"trace_{n}.py", source))],
            timeout=60,
        )
        return reply, marker

    return upload


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def refusal(reply: requests.Response, error_id: str) -> str:
    assert reply.status_code == 403, reply.text
    [error] = reply.json()["errors"]
    assert error["id"] == error_id and error["status"] == "403", error
    assert reply.headers["Opentrons-Version"] == "2"
    return str(error["detail"])


def stored(url: str) -> list[str]:
    with Api(url) as api:
        return [p["id"] for p in api.get("/protocols").json()["data"]]


# -- the marker protocol really leaves a trace ----------------------------------------------------


def test_a_local_upload_runs_the_protocol_and_leaves_the_marker(
    sim_url: str, upload_marker: Callable[..., tuple[Any, Path]]
) -> None:
    reply, marker = upload_marker()
    assert reply.status_code == 201, reply.text
    assert marker.read_text() == "the protocol's module code ran"


# -- foreign Host: DNS rebinding -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "127.0.0.1.evil.example:{port}",
        "localhost.evil.example:{port}",
        "192.168.1.20:{port}",
        "0.0.0.0:{port}",
        "[::2]:{port}",
        "localhost:http",
        "::1",
        "",
    ],
)
def test_a_foreign_host_is_refused_and_nothing_runs(
    sim_url: str, upload_marker: Callable[..., tuple[Any, Path]], host: str
) -> None:
    reply, marker = upload_marker(Host=host.format(port=port_of(sim_url)))
    detail = refusal(reply, "HostNotAllowed")
    assert "does not name this machine" in detail and "--allow-host" in detail, detail
    assert not marker.exists(), "the protocol ran"
    assert stored(sim_url) == []


def test_a_foreign_host_is_refused_on_every_route(sim_url: str) -> None:
    host = {"Host": f"evil.example:{port_of(sim_url)}"}
    for method, path in [
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("POST", "/sessions"),
        ("GET", "/no/such/route"),
    ]:
        reply = requests.request(method, sim_url + path, headers={**VERSION, **host}, timeout=30)
        refusal(reply, "HostNotAllowed")


# -- foreign Origin: cross-site requests ----------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:8888",
        "http://127.0.0.1.evil.example",
        "null",
        "file://",
        "chrome-extension://abcdef",
    ],
)
def test_a_foreign_origin_is_refused_and_nothing_runs(
    sim_url: str, upload_marker: Callable[..., tuple[Any, Path]], origin: str
) -> None:
    reply, marker = upload_marker(Origin=origin)
    detail = refusal(reply, "OriginNotAllowed")
    assert "web page" in detail and repr(origin) in detail, detail
    assert not marker.exists(), "the protocol ran"
    assert stored(sim_url) == []


# -- this machine's programs and pages -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Host": "127.0.0.1:{port}"},
        {"Host": "localhost:{port}"},
        {"Host": "LOCALHOST"},
        {"Host": "127.0.0.2:8080"},
        {"Host": "[::1]:{port}"},
        {"Host": "[::ffff:127.0.0.1]:{port}"},
        {"Origin": "http://localhost:8888"},
        {"Origin": "http://127.0.0.1:{port}"},
        {"Origin": "https://[::1]:8888"},
    ],
)
def test_this_machines_programs_and_pages_are_served(sim_url: str, headers: dict[str, str]) -> None:
    sent = {name: value.format(port=port_of(sim_url)) for name, value in headers.items()}
    reply = requests.get(sim_url + "/health", headers={**VERSION, **sent}, timeout=30)
    assert reply.status_code == 200, reply.text


def test_a_local_page_may_upload_and_run(
    sim_url: str, upload_marker: Callable[..., tuple[Any, Path]]
) -> None:
    reply, marker = upload_marker(
        Host=f"localhost:{port_of(sim_url)}", Origin="http://localhost:8888"
    )
    assert reply.status_code == 201, reply.text
    assert marker.exists()


# -- what no client library sends ------------------------------------------------------------------


def raw_request(url: str, head: str) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, ``\\r\\n`` separated) and read the answer."""
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=30) as conn:
        conn.sendall(head.encode() + b"\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def test_a_request_without_host_is_refused(sim_url: str) -> None:
    status, body = raw_request(sim_url, "GET /health HTTP/1.0\r\nOpentrons-Version: 2")
    assert status == 403
    assert json.loads(body)["errors"][0]["id"] == "HostNotAllowed"


def test_a_request_with_two_hosts_is_refused(sim_url: str) -> None:
    port = port_of(sim_url)
    status, _body = raw_request(
        sim_url,
        f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example:{port}\r\n"
        "Opentrons-Version: 2\r\nConnection: close",
    )
    assert status in (400, 403)  # the HTTP parser or the simulator refuses it


# -- the notification websocket --------------------------------------------------------------------


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/notifications/subscribe?topic=session_events"


@pytest.mark.parametrize(
    "options",
    [
        {"host": "evil.example:{port}"},
        {"host": "evil.example:{port}", "origin": "http://evil.example:{port}"},
        {"origin": "http://evil.example"},
        {"origin": "null"},
    ],
)
def test_the_websocket_refuses_foreign_hosts_and_origins(
    sim_url: str, options: dict[str, str]
) -> None:
    sent = {name: value.format(port=port_of(sim_url)) for name, value in options.items()}
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(sim_url), timeout=30, **sent).close()
    assert refused.value.status_code == 403
    expected = "HostNotAllowed" if "host" in sent else "OriginNotAllowed"
    assert json.loads(refused.value.resp_body or b"{}")["errors"][0]["id"] == expected


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"suppress_origin": True},
        {"origin": "http://localhost:8888"},
        {"host": "localhost:{port}", "origin": "http://[::1]:3000"},
        {"host": "ot2-sim.lab:{port}", "origin": "http://ot2-sim.lab:8888"},
    ],
)
def test_the_websocket_serves_this_machine_and_allowed_names(
    sim_url: str, options: dict[str, Any]
) -> None:
    sent = {
        name: value.format(port=port_of(sim_url)) if isinstance(value, str) else value
        for name, value in options.items()
    }
    feed = websocket.create_connection(ws_url(sim_url), timeout=30, **sent)
    try:
        with Api(sim_url) as api:  # a session's state change arrives on the feed
            api.upload("moves.py")
            api.create_session("moves")
        frame = json.loads(feed.recv())
        assert frame["topic"] == "session_events"
        assert frame["event"]["data"]["type"] == "SessionState"
    finally:
        feed.close()


# -- a name allowed with --allow-host --------------------------------------------------------------


def test_an_allowed_name_is_served(
    sim_url: str, upload_marker: Callable[..., tuple[Any, Path]]
) -> None:
    port = port_of(sim_url)
    reply, marker = upload_marker(Host=f"ot2-sim.lab:{port}", Origin="http://ot2-sim.lab:8888")
    assert reply.status_code == 201, reply.text
    assert marker.exists()
    # and only that name: a neighbour's is still refused
    reply, marker = upload_marker(Host=f"evil.ot2-sim.lab:{port}")
    refusal(reply, "HostNotAllowed")
    assert not marker.exists()


def test_allow_host_on_the_command_line(start_sim: Callable[..., SimulatorHandle]) -> None:
    handle = start_sim(allow_hosts=["Robot-Sim.local", "10.0.0.7"], spare_workers=0)
    port = port_of(handle.url)
    for host in ("robot-sim.local", f"Robot-Sim.local:{port}", f"10.0.0.7:{port}"):
        reply = requests.get(handle.url + "/health", headers={**VERSION, "Host": host}, timeout=30)
        assert reply.status_code == 200, (host, reply.text)
    reply = requests.get(
        handle.url + "/health", headers={**VERSION, "Host": f"10.0.0.8:{port}"}, timeout=30
    )
    refusal(reply, "HostNotAllowed")


def test_allow_any_host_still_refuses_foreign_pages(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    """``--allow-host '*'`` (a simulator on a lab network of its own) serves any Host, but a
    web page of another site still may not drive it."""
    handle = start_sim(allow_hosts=["*"], spare_workers=0)
    host = {"Host": f"robot.lab.example:{port_of(handle.url)}"}
    reply = requests.get(handle.url + "/health", headers={**VERSION, **host}, timeout=30)
    assert reply.status_code == 200, reply.text
    reply = requests.get(
        handle.url + "/health",
        headers={**VERSION, **host, "Origin": "http://evil.example"},
        timeout=30,
    )
    refusal(reply, "OriginNotAllowed")


def test_allow_hosts_must_be_a_list(start_sim: Callable[..., SimulatorHandle]) -> None:
    with pytest.raises(TypeError, match="list of names"):
        start_sim(allow_hosts="ot2-sim.lab")


# -- IPv6 loopback ---------------------------------------------------------------------------------


def test_a_simulator_on_ipv6_loopback_serves_it_and_refuses_foreign_hosts(
    start_sim: Callable[..., SimulatorHandle], tmp_path: Path
) -> None:
    handle = start_sim(host="::1", spare_workers=1)
    assert handle.url.startswith("http://[::1]:")
    reply = requests.get(handle.url + "/health", headers=VERSION, timeout=30)
    assert reply.status_code == 200, reply.text  # Host: [::1]:PORT
    marker = tmp_path / "marker"
    source = MARKER_PROTOCOL.format(marker=str(marker)).encode()
    refused = requests.post(
        handle.url + "/protocols",
        headers={**VERSION, "Host": f"evil.example:{port_of(handle.url)}"},
        files=[("protocolFile", ("trace.py", source))],
        timeout=60,
    )
    refusal(refused, "HostNotAllowed")
    assert not marker.exists()
    feed = websocket.create_connection(ws_url(handle.url), timeout=30)  # Origin http://[::1]:…
    feed.close()
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(ws_url(handle.url), timeout=30, origin="http://evil.example")


# -- the address the simulator was explicitly bound to --------------------------------------------


def this_machines_network_address() -> str:
    """This machine's address on its network (the one it would reach other machines from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # a documentation address: nothing is sent
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "this test needs a network interface besides lo"
    return address


def test_the_explicitly_bound_address_is_served(start_sim: Callable[..., SimulatorHandle]) -> None:
    address = this_machines_network_address()
    handle = start_sim(host=address, spare_workers=0)  # start() itself asks it for /health
    port = port_of(handle.url)
    reply = requests.get(handle.url + "/health", headers=VERSION, timeout=30)
    assert reply.status_code == 200, reply.text
    assert "no authentication" in handle.log_tail(50)  # it warns: the network can reach it
    refused = requests.get(
        handle.url + "/health", headers={**VERSION, "Host": f"evil.example:{port}"}, timeout=30
    )
    refusal(refused, "HostNotAllowed")


def test_software_8_refusals_carry_an_error_code(
    start_sim: Callable[..., SimulatorHandle], sim_url: str
) -> None:
    """Robot software 5+ gives every error an ``errorCode`` (``"4000"`` for a general one;
    recordings of 8.1.0); its clients may read it. 4.x errors have none."""
    v8 = start_sim(robot_software=8, mqtt_broker="none")
    for url, code in ((v8.url, "4000"), (sim_url, None)):
        reply = requests.get(
            url + "/health", headers={**VERSION, "Host": "evil.example"}, timeout=30
        )
        assert reply.status_code == 403, reply.text
        [error] = reply.json()["errors"]
        assert error["id"] == "HostNotAllowed" and error.get("errorCode") == code, error
