"""Replay the recorded exchanges with the real 4.7 robot-server against the simulator.

Each recorded request is sent again; the simulator's answer is compared with the recorded
one: status code, the version headers, and the JSON field by field (keys, types, and
values other than ids, timestamps and step texts). Every difference must be in
``ALLOWED_DIFFERENCES`` below, each one justified (and listed in the README). Polling
loops are replayed as "poll until the recorded final state", then compared with the
recorded final poll. Scenarios 15 and 16, where the real server deadlocked, check that the
simulator answers promptly instead.

The recordings are in the repository (``tests/recordings/robot-server-4``) and the scenarios
are listed here by name: a missing recording fails its test, it is never skipped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import Api, wait_until

#: The exchanges recorded with the real robot-server 4.7.0 (``tests/recordings/README.md``).
RECORDINGS = Path(__file__).resolve().parent / "recordings" / "robot-server-4"
#: Every recorded scenario replayed by ``test_replay``, by name, so that a missing file fails.
SCENARIOS = (
    "00_health_and_feature_flag.json",
    "01_seed_happy_path.json",
    "02_version_header.json",
    "03_unknown_protocol_id.json",
    "04_unknown_session_id.json",
    "05_command_errors_and_state_rules.json",
    "06_upload_same_twice_and_upload_limit.json",
    "07_protocol_syntax_error.json",
    "08_protocol_raises_always.json",
    "09_protocol_raises_at_run_time.json",
    "10_upload_txt_as_protocol.json",
    "11_second_session_while_one_exists.json",
    "12_pause_resume_cancel_during_run.json",
    "13_delete_session_while_running.json",
    "14_notifications_websocket.json",
    "15_cancel_while_paused_hangs_server.json",
    "16_delete_while_paused_hangs_server.json",
)
#: The recorded OpenAPI document, compared by ``test_openapi_lists_the_recorded_routes``.
OPENAPI_RECORDING = "17_openapi_spec.json"


def load_recording(name: str) -> dict[str, Any]:
    path = RECORDINGS / name
    if not path.is_file():
        pytest.fail(
            f"The recording {path} is missing: the robot-server 4.7 recordings belong in "
            "tests/recordings/robot-server-4 (see tests/recordings/README.md); restore them "
            "from the repository (git checkout -- tests/recordings)."
        )
    return dict(json.loads(path.read_text()))


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
VOLATILE_KEYS = {"createdAt", "lastModifiedAt", "startedAt", "completedAt", "timestamp"}

#: Differences from the real 4.7 robot-server, as (JSON path regex, kind) -> why.
ALLOWED_DIFFERENCES: dict[tuple[str, str], str] = {
    (
        r"requiredEquipment\.labware\[\d+\]\.slot$",
        "added",
    ): "labware carries `slot` (as the 4.0 documentation shows) besides `location` (4.7)",
    (
        r"data(\[\d+\])?\.estimatedDuration$",
        "added",
    ): "the simulator adds an estimated run time to the analysis (SPEC §5)",
    (r"metadata\.description$", "added"): "the protocol's description, for the equipment panel",
    (
        r"errors\[\d+\]\.status$",
        "added",
    ): "error items carry `status` (4.0-4.3) besides `id` (4.4-4.7), so clients of both work",
    (
        r"details\.errors$",
        "added",
    ): "a run's error (type, message, line) is visible in the session; 4.7 hides it",
    (
        r"data(\[\d+\])?\.errors\[\d+\]\.exceptionType$",
        "added",
    ): "the Python exception class, which 4.x hides behind ExceptionInProtocolError",
    (
        r"data(\[\d+\])?\.errors\[\d+\]\.fileName$",
        "added",
    ): "file of the failing line (the protocol or a support module), to map it to a cell",
    (r"^simulator$", "added"): "health reports the simulator's own versions",
    (r"^name$", "value"): "the simulated robot is called ot2-sim",
    (
        r"^maximum_protocol_api_version(\[\d\])?$",
        "value",
    ): "opentrons 8.x simulates API levels up to 2.27; robot software 4.7 stopped at 2.11",
    (
        r"errors\[\d+\]\.description$",
        "value",
    ): 'Python 3.11 words syntax errors precisely ("expected \':\'" for "invalid syntax")',
    (
        r"errors\[0\]\.detail$",
        "value",
    ): "details are readable where 4.7's were garbled (duplicate upload), and list permitted "
    "commands without Python enum reprs",
    (
        r"^errors$",
        "length",
    ): "one validation error per problem, not pydantic 1's fan-out of one per union member",
    (
        r"details\.events$",
        "length",
    ): "pause really pauses and cancel stops at once, so a paused or cancelled long run logs "
    "fewer steps than 4.7 (where pause did not stop the protocol)",
    (
        r"details\.currentState$",
        "value",
    ): "only where 4.7's own defect shows: its cancel blocked until the protocol ended",
    (
        r"details\.events\[\d+\]\.params\.structured$",
        "added",
    ): "a step's start carries the step as data (pipette, volume, place, estimated time) "
    "besides its text, for deck playback (SPEC §6, last row; ot2_notebook.step_data)",
}


def _allowed(path: str, kind: str) -> bool:
    return any(k == kind and re.search(p, path) for p, k in ALLOWED_DIFFERENCES)


def compare(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Differences between recorded and actual JSON that are not explained."""
    found: list[str] = []

    def note(kind: str, text: str) -> None:
        if not _allowed(path, kind):
            found.append(f"{path or '<root>'}: {kind}: {text}")

    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() - actual.keys():
            sub = f"{path}.{key}" if path else key
            if not _allowed(sub, "missing"):
                found.append(f"{sub}: missing")
        for key in actual.keys() - expected.keys():
            sub = f"{path}.{key}" if path else key
            if not _allowed(sub, "added"):
                found.append(f"{sub}: added")
        for key in expected.keys() & actual.keys():
            sub = f"{path}.{key}" if path else key
            if key in VOLATILE_KEYS:
                if isinstance(expected[key], str) and not TIMESTAMP.match(str(actual[key])):
                    found.append(f"{sub}: not a UTC ISO timestamp: {actual[key]!r}")
            elif key == "params" and isinstance(expected[key], dict):
                if not isinstance(actual[key], dict) or not isinstance(
                    actual[key].get("text"), str
                ):
                    found.append(f"{sub}: step text missing")
                else:  # the text's words differ (opentrons 8's names); every other key counts
                    found += compare(
                        {k: v for k, v in expected[key].items() if k != "text"},
                        {k: v for k, v in actual[key].items() if k != "text"},
                        sub,
                    )
            else:
                found += compare(expected[key], actual[key], sub)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            note("length", f"{len(expected)} recorded, {len(actual)} now")
            if path.endswith("events"):
                return found
        for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found += compare(e, a, f"{path}[{index}]")
        return found
    if type(expected) is not type(actual):
        note("type", f"{expected!r} recorded, {actual!r} now")
    elif isinstance(expected, str) and UUID.fullmatch(expected):
        if not UUID.fullmatch(actual):
            note("value", f"expected a uuid, got {actual!r}")
    elif isinstance(expected, str) and UUID.search(expected):
        if UUID.sub("<id>", expected) != UUID.sub("<id>", actual):
            note("value", f"{expected!r} recorded, {actual!r} now")
    elif expected != actual:
        note("value", f"{expected!r} recorded, {actual!r} now")
    return found


def _runtime_protocol(text: str) -> str:
    """The recorded protocols detect the robot's real run by looking for robot-server 4.7's
    own ``_run`` frame on the stack; the simulated robot's run answers
    ``ctx.is_simulating()`` with False instead (as a real robot does)."""
    return text.replace("really_running()", "(not protocol.is_simulating())").replace(
        "def (not protocol.is_simulating()):", "def really_running():"
    )


class Replayer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.ids: dict[str, str] = {}

    def _path(self, path: str) -> str:
        for recorded, ours in self.ids.items():
            path = path.replace(recorded, ours)
        return path

    def send(self, request: dict[str, Any]) -> requests.Response:
        headers = {
            k: v
            for k, v in request["headers"].items()
            if k.lower() in ("opentrons-version",)
            or (k.lower() == "content-type" and request.get("raw_body") is not None)
        }
        kwargs: dict[str, Any] = {"headers": headers, "params": request.get("query"), "timeout": 30}
        if request.get("multipart"):
            kwargs["files"] = [
                (
                    part["field"],
                    (
                        part["filename"],
                        _runtime_protocol(part["text"]).encode(),
                        part["content_type"],
                    ),
                )
                for part in request["multipart"]
            ]
        elif request.get("raw_body") is not None:
            kwargs["data"] = request["raw_body"].encode()
        elif request.get("json") is not None:
            kwargs["json"] = request["json"]
        return self.http.request(
            request["method"], self.url + self._path(request["path"]), **kwargs
        )

    def learn_ids(self, recorded: Any, actual: Any) -> None:
        if isinstance(recorded, dict) and isinstance(actual, dict):
            rid, aid = recorded.get("id"), actual.get("id")
            if isinstance(rid, str) and isinstance(aid, str) and UUID.fullmatch(rid):
                self.ids.setdefault(rid, aid)
            for key in recorded.keys() & actual.keys():
                self.learn_ids(recorded[key], actual[key])


def _poll_group(note: str | None) -> str | None:
    if note and note.startswith("poll ") and "#" in note:
        return note.rsplit("#", 1)[0]
    return None


def test_every_recording_is_replayed() -> None:
    """The list above is the folder's content: no recording is missing or left out."""
    on_disk = {p.name for p in RECORDINGS.glob("*.json")}
    expected = {*SCENARIOS, OPENAPI_RECORDING}
    assert on_disk == expected, (
        f"missing: {sorted(expected - on_disk)}; not replayed: {sorted(on_disk - expected)}"
    )


@pytest.fixture(scope="module")
def replay_sim() -> Iterator[SimulatorHandle]:
    with start(port=0, max_protocols=1, analysis_timeout=30) as handle:
        yield handle


@pytest.fixture
def replayer(replay_sim: SimulatorHandle) -> Iterator[Replayer]:
    with Api(replay_sim.url) as api:
        api.clean()
        flags = {s["id"]: s["value"] for s in api.get("/settings").json()["settings"]}
        if not flags["enableHttpProtocolSessions"]:
            api.post("/settings", json={"id": "enableHttpProtocolSessions", "value": True})
    replay = Replayer(replay_sim.url)
    yield replay
    with Api(replay_sim.url) as api:
        api.clean()


def _exchanges(recording: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each exchange with the polls that follow it collapsed into its last one."""
    grouped: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for exchange in recording["exchanges"]:
        group = _poll_group(exchange.get("note"))
        if group and grouped and _poll_group(grouped[-1][0].get("note")) == group:
            grouped[-1][1].append(exchange)
        else:
            grouped.append((exchange, [exchange]))
    return [(polls[-1], polls) for _first, polls in grouped]


#: Scenarios whose event counts depend on timing (4.7's pause did not pause, its cancel let
#: the protocol finish): there polls wait for the recorded state only.
TIMING_DEPENDENT = {"12", "13"}


def _event_count(body: Any) -> int | None:
    try:
        return len(body["data"]["details"]["events"])
    except (KeyError, TypeError):
        return None


def _state(body: Any) -> str | None:
    try:
        return str(body["data"]["details"]["currentState"])
    except (KeyError, TypeError):
        return None


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay(scenario: str, replayer: Replayer) -> None:
    recording = load_recording(scenario)
    if scenario.startswith(("15_", "16_")):
        _replay_deadlock(recording, replayer)
        return
    problems: list[str] = []
    for exchange, polls in _exchanges(recording):
        request, recorded = exchange["request"], exchange["response"]
        label = f"#{exchange['seq']} {request['method']} {request['path']} ({exchange.get('note')})"
        if len(polls) > 1 or _poll_group(exchange.get("note")):
            wanted = _state(recorded["json"])
            count = None if scenario[:2] in TIMING_DEPENDENT else _event_count(recorded["json"])
            reply = wait_until(
                lambda r=request, w=wanted, n=count: (
                    (
                        (resp := replayer.send(r)).status_code == 200
                        and _state(resp.json()) == w
                        and (n is None or _event_count(resp.json()) == n)
                    )
                    and resp
                ),
                timeout=60,
                message=f"{label}: never reached state {wanted!r} with {count} events",
            )
        else:
            started = time.monotonic()
            reply = replayer.send(request)
            assert time.monotonic() - started < 5, f"{label} took too long"
        assert reply.status_code == recorded["status"], (label, reply.text)
        for header in ("opentrons-version", "opentrons-min-version"):
            assert reply.headers.get(header) == recorded["headers"].get(header), (label, header)
        if recorded.get("json") is not None:
            body = reply.json()
            replayer.learn_ids(recorded["json"], body)
            problems += [f"{label}: {p}" for p in compare(recorded["json"], body)]
    if scenario.startswith("14_"):
        _replay_websocket(recording, replayer.url)
    assert not problems, "\n".join(problems)


def _replay_deadlock(recording: dict[str, Any], replayer: Replayer) -> None:
    """The real server never answered the command; the simulator must, at once."""
    for exchange, _polls in _exchanges(recording):
        request = exchange["request"]
        if exchange.get("note", "") and _poll_group(exchange["note"]):
            wanted = _state(exchange["response"]["json"])
            wait_until(lambda r=request, w=wanted: _state(replayer.send(r).json()) == w, timeout=60)
            continue
        started = time.monotonic()
        reply = replayer.send(request)
        assert time.monotonic() - started < 1.0, "answered promptly"
        assert reply.status_code in (200, 201, 404), reply.text
        if exchange["response"] is not None:
            replayer.learn_ids(exchange["response"].get("json"), reply.json())
        if (
            exchange["response"] is None
            and request["method"] in ("POST", "DELETE")
            and "sessions" in request["path"]
        ):
            assert reply.status_code == 200
            if request["method"] == "DELETE":
                assert _state(reply.json()) == "stopped"


def _replay_websocket(recording: dict[str, Any], url: str) -> None:
    for attempt in recording["websocket_attempts"]:
        target = attempt["url"].replace("ws://127.0.0.1:31950", url.replace("http", "ws"))
        if attempt["connected"]:
            ws = websocket.create_connection(target, header=attempt["headers"], timeout=10)
            ws.close()
        else:
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(target, header=attempt["headers"], timeout=10)
            assert refused.value.status_code == attempt["status_code"]


def test_openapi_lists_the_recorded_routes(replay_sim: SimulatorHandle) -> None:
    recording = load_recording(OPENAPI_RECORDING)
    recorded = recording["exchanges"][0]["response"]["json"]["paths"]
    reply = requests.get(replay_sim.url + "/openapi.json", timeout=10)
    assert reply.status_code == 200, "the route needs no version header"
    ours = reply.json()["paths"]
    for path in (
        "/health",
        "/settings",
        "/protocols",
        "/protocols/{protocolId}",
        "/sessions",
        "/sessions/{sessionId}",
        "/sessions/{sessionId}/commands/execute",
    ):
        assert set(recorded[path]) <= set(ours[path]), path


def test_the_comparison_catches_differences() -> None:
    """The replay is only as good as ``compare``: it must see what matters."""
    recorded = {
        "data": {
            "id": "x",
            "errors": [],
            "createdAt": "2026-11-29T07:16:43.147798+00:00",
            "metadata": {"apiLevel": "2.6"},
        }
    }
    assert compare(recorded, recorded) == []
    assert compare(recorded, {"data": {**recorded["data"], "id": "y"}}) == [
        "data.id: value: 'x' recorded, 'y' now"
    ]
    assert compare(recorded, {"data": {k: v for k, v in recorded["data"].items() if k != "errors"}})
    assert compare(recorded, {"data": {**recorded["data"], "createdAt": "yesterday"}})
    assert compare(recorded, {"data": {**recorded["data"], "metadata": {"apiLevel": 2.6}}})
    assert compare(recorded, {"data": {**recorded["data"], "surprise": 1}}) == [
        "data.surprise: added"
    ]
    # an allowed, justified difference
    assert compare(recorded, {"data": {**recorded["data"], "estimatedDuration": 1.0}}) == []
    # a step's params: the text's words may differ, the structured data is the one addition
    step = {"details": {"events": [{"params": {"text": "Picking up tip from A1 of X on 1"}}]}}
    reworded = {"details": {"events": [{"params": {"text": "Picking up tip from A1 of Y on 1"}}]}}
    assert compare(step, reworded) == []
    structured = {"command": "PICK_UP_TIP"}
    with_data = {"details": {"events": [{"params": {"text": "t", "structured": structured}}]}}
    assert compare(step, with_data) == []
    other = {"details": {"events": [{"params": {"text": "t", "volume": 3}}]}}
    assert compare(step, other) == ["details.events[0].params.volume: added"]
    assert compare(step, {"details": {"events": [{"params": {}}]}}) == [
        "details.events[0].params: step text missing"
    ]
