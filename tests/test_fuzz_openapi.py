"""Fuzzing the simulated robot's HTTP API from its own OpenAPI document (``GET /openapi.json``).

Three fuzzers against one real ``ot2-sim`` process, each bounded in examples:

* schemathesis derives requests for every operation of the document, both ones that fit the
  schema (positive) and ones that do not (negative: wrong types, missing or garbage
  ``Opentrons-Version``, malformed bodies);
* a hypothesis strategy for what schemathesis does not vary: multipart uploads with random
  field names, file names (folders, ``..``, control characters, unicode) and bytes, random
  headers, and raw bodies that are not multipart at all;
* a hypothesis state machine driving uploads, deletes, sessions and commands in random order
  against a model of what the robot must hold.

Every answer must be below 500, and every 4xx must be the robot's JSON error envelope
(``{"errors": [{"id", "status", "title", "detail"}]}``; the legacy routes ``/health``,
``/settings``, ``/pipettes`` and ``/modules`` answer request validation errors as
``{"message": ...}``, as robot software 4.x does, recording 02). Every answer schemathesis
gets must also match what the document says of it: its status code is one the operation
lists, and its body fits that code's schema (success bodies and error envelopes alike).
Nothing may be written outside the simulator's data folder.

schemathesis's pytest plugin (``@schema.parametrize`` with ``from_fixture``) fails on pytest 9
(``'Function' object has no attribute '_nodeid'``), so its strategies are used through plain
hypothesis ``@given``, which is also how the simulator can come from a fixture. schemathesis 4
installs beside opentrons 8 (it validates with jsonschema-rs, not jsonschema); where it is
missing, its two tests fail saying so, and the other fuzzers still run.
"""

from __future__ import annotations

import collections
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from ot2_notebook import session_states
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import wait_until

try:
    import schemathesis
except ImportError:  # reported by the tests that need it, not by the whole module
    schemathesis = None

LEGACY_PATHS = ("/health", "/settings", "/pipettes", "/modules")
VERSION = {"Opentrons-Version": "2"}
SMALL_PROTOCOL = b"""metadata = {"apiLevel": "2.13"}


def run(ctx):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    plate = ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    pipette.aspirate(50, plate["A1"])
    pipette.dispense(50, plate["B1"])
    pipette.drop_tip()
"""
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that holds the simulator's data folder and nothing else, so that a file
    written outside the data folder is seen (``test_nothing_escaped_the_data_folder``)."""
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def fuzz_sim(fuzz_root: Path) -> Iterator[SimulatorHandle]:
    """A simulator of this module's own: fuzzed uploads must not reach other tests' robot."""
    with start(port=0, max_protocols=5, analysis_timeout=10, data_dir=fuzz_root / "data") as handle:
        yield handle


@pytest.fixture(scope="module")
def http(fuzz_sim: SimulatorHandle) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def clean(http: requests.Session, url: str) -> None:
    """Delete every session and protocol, so each example starts from an empty robot.

    Ids go into the path percent-encoded: a file named ``%2e%2eX.py`` is protocol
    ``%2e%2eX``, which the server would read as ``..X`` unencoded (found by the fuzzer)."""
    for session in http.get(f"{url}/sessions", headers=VERSION, timeout=30).json()["data"]:
        http.delete(f"{url}/sessions/{quote(session['id'], safe='')}", headers=VERSION, timeout=30)
    for protocol in http.get(f"{url}/protocols", headers=VERSION, timeout=30).json()["data"]:
        http.delete(
            f"{url}/protocols/{quote(protocol['id'], safe='')}", headers=VERSION, timeout=30
        )


def assert_robot_answer(response: requests.Response, path: str, what: str) -> None:
    """No 5xx; a 4xx carries the robot's JSON error envelope (or, on a legacy route's
    validation error, the legacy ``{"message"}`` body)."""
    status = response.status_code
    assert status < 500, f"{status} for {what}:\n{response.text[:1000]}"
    if status < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        pytest.fail(f"{status} without a JSON body for {what}: {response.text[:300]!r}")
    if path in LEGACY_PATHS and status == 422 and set(body) == {"message"}:
        assert isinstance(body["message"], str) and body["message"], body
        return
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), (what, body)
    assert body["errors"], (what, body)
    for error in body["errors"]:
        assert error["status"] == str(status), (what, body)
        assert error["id"] and error["title"], (what, body)
        assert isinstance(error["detail"], str) and error["detail"].strip(), (what, body)
    assert response.headers.get("Opentrons-Version") == "2", (what, response.headers)


# -- schemathesis: every operation of the OpenAPI document ---------------------------------------


@pytest.fixture(scope="module")
def openapi(fuzz_sim: SimulatorHandle) -> Any:
    if schemathesis is None:
        pytest.fail(
            "schemathesis is not installed: add 'schemathesis>=4,<5' to the test extras "
            "(pip install 'schemathesis>=4,<5'); it installs beside opentrons 8"
        )
    return schemathesis.openapi.from_url(f"{fuzz_sim.url}/openapi.json")


#: The answer is what the document says: a listed status code, a body that fits its schema.
DOCUMENTED = (
    []
    if schemathesis is None
    else [
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
    ]
)


def test_the_document_lists_the_robot_api(openapi: Any) -> None:
    operations = {op.ok().label for op in openapi.get_all_operations()}
    assert {
        "GET /health",
        "GET /pipettes",
        "GET /modules",
        "POST /protocols",
        "PATCH /protocols/{protocolId}",
        "DELETE /protocols/{protocolId}",
        "POST /sessions",
        "POST /sessions/{sessionId}/commands/execute",
        "DELETE /sessions/{sessionId}",
        "POST /settings",
    } <= operations


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_error_for_any_request_the_document_describes(
    openapi: Any, fuzz_sim: SimulatorHandle, http: requests.Session, mode: str
) -> None:
    seen: set[str] = set()
    statuses: collections.Counter[int] = collections.Counter()

    @settings(FUZZ_SETTINGS, max_examples=150)
    @given(case=openapi.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    def check(case: Any) -> None:
        seen.add(case.operation.label)
        request = case.as_transport_kwargs(base_url=fuzz_sim.url)
        request.setdefault("timeout", 30)
        response = http.request(**request)
        assert_robot_answer(response, case.path, case.as_curl_command(base_url=fuzz_sim.url))
        case.validate_response(response, checks=DOCUMENTED)
        statuses[response.status_code // 100 * 100] += 1

    try:
        check()
    finally:
        clean(http, fuzz_sim.url)
    assert len(seen) >= 10, f"the fuzzer reached only {sorted(seen)}"
    assert sum(statuses.values()) >= 100 and statuses[400], statuses
    if mode == "positive":
        assert statuses[200], statuses


# -- hypothesis: uploads schemathesis does not vary ---------------------------------------------

_NASTY_NAME_PARTS = ["..", "/", "\\", ".", "~", "%2e%2e", "\x00", "\n", "\u202e", " ", "é", "🧪"]
file_names = st.one_of(
    st.text(min_size=0, max_size=40),
    st.lists(
        st.one_of(st.sampled_from(_NASTY_NAME_PARTS), st.text(string.ascii_letters, max_size=8)),
        min_size=1,
        max_size=6,
    ).map("".join),
    st.builds(lambda stem: f"{stem}.py", st.text(string.ascii_letters + "_.-", min_size=1)),
)
contents = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=500).map(str.encode),
    st.just(SMALL_PROTOCOL),
    st.just(b"def run(ctx):\n    raise ValueError('fuzz')\n"),
)
field_names = st.one_of(
    st.sampled_from(["protocolFile", "supportFiles", "file"]),
    st.text(string.printable, max_size=12),
)
version_headers = st.one_of(
    st.none(),
    st.sampled_from(["2", "*", "1", "0", "-1", "3", "99999999999999999999", "", "two", "2.0"]),
    st.text(string.printable.strip(), max_size=10),
)


plain_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\.(py|json|csv|txt)", fullmatch=True)


@st.composite
def multipart_uploads(draw: st.DrawFn) -> dict[str, Any]:
    """Half of them well formed but for the file contents (so that some get stored and
    analysed), half with anything in names, fields and the version header."""
    wild = draw(st.booleans())
    names = file_names if wild else plain_names
    parts = []
    if not wild or draw(st.booleans()):
        parts.append(("protocolFile", (draw(names), draw(contents))))
    for _ in range(draw(st.integers(0, 4 if wild else 2))):
        field = draw(field_names) if wild else "supportFiles"
        parts.append((field, (draw(names), draw(contents))))
    return {"files": parts, "version": draw(version_headers) if wild else "2"}


def _headers(version: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = dict(extra or {})
    if version is not None:
        headers["Opentrons-Version"] = version
    return headers


def test_random_multipart_uploads_get_a_clear_answer(
    fuzz_sim: SimulatorHandle, http: requests.Session
) -> None:
    url = fuzz_sim.url
    statuses: collections.Counter[int] = collections.Counter()

    @settings(FUZZ_SETTINGS, max_examples=120)
    @given(upload=multipart_uploads(), method=st.sampled_from(["POST", "PATCH"]))
    def check(upload: dict[str, Any], method: str) -> None:
        target = "/protocols" if method == "POST" else "/protocols/fuzzed"
        if method == "PATCH":
            http.post(
                f"{url}/protocols",
                files=[("protocolFile", ("fuzzed.py", SMALL_PROTOCOL))],
                headers=VERSION,
                timeout=30,
            )
        try:
            response = http.request(
                method,
                url + target,
                files=upload["files"],
                headers=_headers(upload["version"]),
                timeout=30,
            )
        except ValueError:  # requests itself refuses the request (e.g. a header value)
            return
        assert_robot_answer(response, target, f"{method} {target} {upload!r}"[:2000])
        statuses[response.status_code] += 1
        if method == "POST" and response.status_code == 201:
            protocol = response.json()["data"]
            name = protocol["protocolFile"]["basename"]
            assert "/" not in name and "\\" not in name and name not in (".", "..")
            where = f"{url}/protocols/{quote(protocol['id'], safe='')}"
            listed = http.get(where, headers=VERSION, timeout=30)
            assert listed.status_code == 200 and listed.json()["data"]["id"] == protocol["id"]
        clean(http, url)

    check()
    # the fuzzer got past the checks (some uploads stored) and into them (some refused)
    assert statuses[201] and statuses[422] and sum(statuses.values()) >= 100, statuses


raw_bodies = st.one_of(
    st.binary(max_size=4096),
    st.builds(
        lambda head, tail: b"--xyz\r\n" + head + b"\r\n\r\n" + tail + b"\r\n--xyz--\r\n",
        st.binary(max_size=200),
        st.binary(max_size=200),
    ),
)
content_types = st.sampled_from(
    [
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "",
    ]
)


def test_raw_bodies_get_a_clear_answer(fuzz_sim: SimulatorHandle, http: requests.Session) -> None:
    url = fuzz_sim.url

    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(
        body=raw_bodies,
        content_type=content_types,
        target=st.sampled_from(
            ["/protocols", "/protocols/x", "/sessions", "/sessions/x/commands/execute", "/settings"]
        ),
        method=st.sampled_from(["POST", "PATCH", "PUT"]),
    )
    def check(body: bytes, content_type: str, target: str, method: str) -> None:
        response = http.request(
            method,
            url + target,
            data=body,
            headers=_headers("2", {"Content-Type": content_type} if content_type else None),
            timeout=30,
        )
        assert_robot_answer(response, target, f"{method} {target} {content_type} {body[:200]!r}")
        statuses[response.status_code] += 1

    statuses: collections.Counter[int] = collections.Counter()
    try:
        check()
    finally:
        clean(http, url)
    assert sum(statuses.values()) >= 60, statuses


# -- hypothesis: random sequences of operations against a model ----------------------------------

PROTOCOL_IDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
#: mostly protocols that analyse (so sessions load and run), some that fail, some not text
protocol_contents = st.one_of(
    st.just(SMALL_PROTOCOL),
    st.just(SMALL_PROTOCOL),
    st.just(b"def run(ctx):\n    raise ValueError('fuzz')\n"),
    contents,
)
COMMANDS = [*session_states.PROTOCOL_COMMANDS, "protocol.explode", "", "calibration.jog"]


def is_text(content: bytes) -> bool:
    """Whether the robot can take ``content`` as a protocol file (UTF-8 text, no NUL)."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in content


class RobotModel(RuleBasedStateMachine):
    """What the robot holds, checked after every step: the uploads that succeeded and were
    not deleted are exactly the protocols listed; every answer is a clear one."""

    sessions = Bundle("sessions")
    uploaded = Bundle("uploaded")  # ids that were uploaded once (maybe deleted since)
    url: str = ""
    http: requests.Session
    #: what the machine reached, over all examples (the test checks it reached far enough)
    reached: collections.Counter[str] = collections.Counter()

    def __init__(self) -> None:
        super().__init__()
        self.protocols: set[str] = set()

    @initialize(target=uploaded)
    def robot_with_one_protocol(self) -> str:
        """Every example starts from an empty robot plus one protocol that analyses, so
        that sessions which load and run are always within the machine's reach."""
        clean(self.http, self.url)
        response = self.call(
            "POST", "/protocols", files=[("protocolFile", ("omega.py", SMALL_PROTOCOL))]
        )
        assert response.status_code == 201, response.text
        self.protocols.add("omega")
        return "omega"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.reached[f"{method} {path.split('/')[1]}"] += 1
        kwargs.setdefault("headers", VERSION)
        response = self.http.request(method, self.url + path, timeout=30, **kwargs)
        assert_robot_answer(response, path, f"{method} {path} {kwargs!r}"[:1000])
        return response

    @rule(target=uploaded, protocol_id=st.sampled_from(PROTOCOL_IDS), content=protocol_contents)
    def upload(self, protocol_id: str, content: bytes) -> Any:
        response = self.call(
            "POST", "/protocols", files=[("protocolFile", (f"{protocol_id}.py", content))]
        )
        if not is_text(content):  # checked first: the upload cannot be a protocol
            assert response.status_code == 422, response.text
        elif protocol_id in self.protocols:
            assert response.status_code == 403, response.text
            assert response.json()["errors"][0]["title"] == "Resource Exists"
        elif len(self.protocols) >= 5:
            assert response.status_code == 403, response.text
            assert "Upload limit" in response.json()["errors"][0]["detail"]
        else:
            assert response.status_code == 201, response.text
            self.protocols.add(protocol_id)
            self.reached["upload"] += 1
            return protocol_id
        return multiple()

    @rule(protocol_id=st.one_of(uploaded, st.sampled_from(PROTOCOL_IDS)))
    def delete_protocol(self, protocol_id: str) -> None:
        response = self.call("DELETE", f"/protocols/{protocol_id}")
        if protocol_id in self.protocols:
            assert response.status_code == 200, response.text
            assert response.json()["data"]["id"] == protocol_id
            self.protocols.discard(protocol_id)
            self.reached["delete"] += 1
        else:
            assert response.status_code == 404, response.text

    @rule(target=sessions, protocol_id=uploaded)
    def create_session(self, protocol_id: str) -> Any:
        response = self.call(
            "POST",
            "/sessions",
            json={"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}},
        )
        if protocol_id not in self.protocols:
            assert response.status_code == 404, response.text
            return multiple()
        assert response.status_code == 201, response.text
        self.reached["session"] += 1
        return response.json()["data"]["id"]

    @rule(session_id=sessions)
    def settle(self, session_id: str) -> None:
        """Wait until the session's load is over (``stopped`` means still loading here,
        unless it was cancelled), so that commands meet every state, not only ``stopped``."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = self.call("GET", f"/sessions/{session_id}")
            if response.status_code == 404:
                return
            details = response.json()["data"]["details"]
            cancelled = any(e["event"] == "protocol.cancel" for e in details["events"])
            if details["currentState"] != "stopped" or cancelled:
                self.reached[f"settled {details['currentState']}"] += 1
                return
            time.sleep(0.02)  # poll interval of a wait on a condition, bounded above
        raise AssertionError(f"session {session_id} still loading after 30 s")

    @rule(
        target=sessions,
        protocol_id=uploaded,
        commands=st.lists(st.sampled_from(COMMANDS), max_size=5),
    )
    def session_with_commands(self, protocol_id: str, commands: list[str]) -> Any:
        """A new (so active) session, loaded, started, then a burst of commands: each known
        command is executed or refused as the state allows (403), an unknown one is 422."""
        session_id = self.create_session(protocol_id)
        if not isinstance(session_id, str):
            return session_id
        self.settle(session_id)
        for command in [session_states.START_RUN, *commands]:
            self.command(session_id, command)
        return session_id

    @rule(session_id=sessions, command=st.sampled_from(COMMANDS))
    def command(self, session_id: str, command: str) -> None:
        response = self.call(
            "POST",
            f"/sessions/{session_id}/commands/execute",
            json={"data": {"command": command, "data": {}}},
        )
        if command in session_states.PROTOCOL_COMMANDS:
            assert response.status_code in (200, 403, 404), response.text
        else:
            assert response.status_code in (403, 404, 422), response.text
        self.reached[f"command {response.status_code}"] += 1

    @rule(session_id=sessions)
    def get_session(self, session_id: str) -> None:
        response = self.call("GET", f"/sessions/{session_id}")
        if response.status_code == 200:
            assert response.json()["data"]["details"]["currentState"] in session_states.STATES

    @rule(session_id=consumes(sessions))
    def delete_session(self, session_id: str) -> None:
        response = self.call("DELETE", f"/sessions/{session_id}")
        assert response.status_code == 200, response.text

    @invariant()
    def listed_protocols_match(self) -> None:
        listed = self.call("GET", "/protocols").json()["data"]
        assert {p["id"] for p in listed} == self.protocols


def test_random_sequences_of_operations_keep_the_robot_consistent(
    fuzz_sim: SimulatorHandle, http: requests.Session
) -> None:
    RobotModel.url = fuzz_sim.url
    RobotModel.http = http
    test_case = RobotModel.TestCase
    test_case.settings = settings(
        FUZZ_SETTINGS, max_examples=15, stateful_step_count=25, deadline=None
    )
    RobotModel.reached.clear()
    try:
        test_case().runTest()
    finally:
        clean(http, fuzz_sim.url)
    reached = RobotModel.reached
    assert reached["upload"] and reached["session"] and reached["delete"], reached
    assert reached["command 200"] and reached["command 403"], reached


def test_nothing_escaped_the_data_folder(fuzz_sim: SimulatorHandle, fuzz_root: Path) -> None:
    """Last in this module: after every fuzzer, the data folder's parent holds only it, and
    the data folder holds only the simulator's own entries."""
    assert [p.name for p in fuzz_root.iterdir()] == ["data"]
    data = fuzz_root / "data"
    assert {p.name for p in data.iterdir()} <= {
        ".ot2-sim-data",
        "opentrons-config",
        "protocols",
        "sessions",
    }
    # a deleted protocol's folder is renamed at once and removed on the store's own thread
    wait_until(
        lambda: list((data / "protocols").iterdir()) == [],
        timeout=30,
        message=lambda: f"left behind: {list((data / 'protocols').iterdir())}",
    )
