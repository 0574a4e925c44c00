"""Replay the exchanges recorded with the real robot-server 8.1.0 against ``ot2-sim`` on
robot software 8.

Each recorded request is sent again to a simulator started with ``robot_software=8``; its
answer is compared with the recorded one: the status code, the version headers, and the JSON
field by field (keys, types, values; ids are mapped from the recording to the simulator's,
timestamps and command keys are checked for their form only). Consecutive identical ``GET``s
(the recorder's polls) are replayed as one poll that waits for the recorded final state, and
compared with the recorded final answer. Every difference must be explained by
``ALLOWED_DIFFERENCES`` (a path and a kind of difference) or ``ALLOWED_EXCHANGES`` (an
exchange where the simulator deliberately answers otherwise); both are listed in the README
("Where the software-8 simulator differs from the real robot-server 8.1.0").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import wait_until

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "robot-server-8"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
COMMAND_KEY = re.compile(r"^[0-9a-f]{32}$")
TIME_KEYS = {"createdAt", "startedAt", "completedAt"}
#: values that differ from run to run by nature: checked for presence only
OPAQUE_KEYS = {"traceback"}


@dataclass(frozen=True)
class Allowed:
    """A deliberate difference: in exchanges whose label matches ``where`` (a regex on
    ``"NN #seq METHOD /path"``), the JSON at ``path`` (a regex) may differ by ``kind``
    (``value``, ``type``, ``added``, ``missing``, ``length``, or ``status``: the whole answer)."""

    where: str
    path: str
    kind: str
    why: str


ALLOWED: list[Allowed] = [
    # -- the simulator is a simulator running opentrons 8.8 -----------------------------------
    Allowed(r"GET /health", r"^name$", "value", "the simulated robot is called ot2-sim"),
    Allowed(r"GET /health", r"^api_version$", "value", "its software version is opentrons'"),
    Allowed(
        r"GET /health",
        r"^maximum_protocol_api_version(\[\d\])?$",
        "value",
        "opentrons 8.8 runs Python Protocol API levels up to 2.27 (8.1.0: 2.20)",
    ),
    Allowed(r"GET /health", r"^simulator$", "added", "the simulator's details, MQTT broker too"),
    # -- readable errors ----------------------------------------------------------------------
    Allowed(
        r"GET /(robot/settings|no/such/route)",
        r"^errors\[0\]\.detail$",
        "value",
        "an unknown route says which and where the API is listed, not just 'Not Found'",
    ),
    # -- robot-server 8.1.0's defects, not reproduced ---------------------------------------
    Allowed(
        r"^01 #(12|14) POST /runs",
        "",
        "status",
        "a run of a protocol whose own code fails to load: 422 ProtocolLoadFailed (the error "
        "and what to do), not 500 UnexpectedError",
    ),
    Allowed(
        r"^01 #13 GET /runs",
        r"^links\.current$",
        "missing",
        "no ghost current run after a refused POST /runs (8.1.0 pointed links.current at a run "
        "that did not exist, and failed the next POST /runs with 500 'Run ... was not found')",
    ),
    Allowed(
        r"GET /runs/[^/]+/commands/nope",
        "",
        "status",
        "an unknown command id: 404 CommandNotFound, not 500 CommandDoesNotExistError",
    ),
    # -- opentrons 8.8's engine says more than 8.1.0's ----------------------------------------
    Allowed(
        r"",
        r"(commands|data)\[\d+\](<json>)?\.(result\.locationSequence|params\.wellLocation"
        r"\.volumeOffset|params\.scrape_tips)$",
        "added",
        "fields opentrons 8.2-8.8 added to commands (where labware is, volume offsets, tip "
        "scraping); clients of 8.1.0 ignore them",
    ),
    Allowed(
        r"",
        r"(commands|data)\[\d+\](<json>)?\.notes$",
        "length",
        "opentrons 8.8 notes how a failed command was handled (debugErrorRecovery: FAIL_RUN)",
    ),
    Allowed(
        r"^04 #55 POST /runs/[^/]+/commands",
        r"^errors\[0\]\.detail$",
        "value",
        "the permitted command types are opentrons 8.8's (more than 8.1.0's); the wording is "
        "8.1.0's (checked by test_unknown_command_type_lists_the_known_ones)",
    ),
    Allowed(
        r"^04 #108 POST /protocols",
        "",
        "status",
        "runTimeParameterValues that are not JSON: 422 saying so, not 500 JSONDecodeError",
    ),
    Allowed(
        r"",
        r"commands\[\d+\]\.result\.definition$",
        "missing",
        "opentrons 8.8's loadModule result no longer repeats the module's definition",
    ),
    # -- attached hardware -------------------------------------------------------------------
    Allowed(
        r"^05 #(4[7-9]|6[4-5]) GET /runs/",
        r"^data\.modules\[\d\]\.(serialNumber|model)$",
        "value",
        "the simulated robot's modules are virtual ones of exactly the model a protocol asks "
        "for (fake serial numbers); robot-server's dev configuration attaches mag-123 and a "
        "temperature module V1 (serving a V2 request) as temp-123",
    ),
    # -- timing: how far a run of 0.5 s delays has got when the client looks, pauses or stops
    Allowed(
        r"^03 #(11|19|2[0-8]|3[0-3]|3[7-9]|4[0-2]) ",
        r"^(data\.(labware|pipettes)|data|meta\.(cursor|totalLength)|links\.current\.meta\.(index|commandId|key)|links\.current\.href)$",
        "length|value",
        "the long run's progress when the client looked (recorded 1-4 s into a 10 s run; the "
        "replay does not sleep to imitate the recorder's pauses)",
    ),
    Allowed(
        r"^07 #(8|10) GET /runs/",
        r"^data\.(labware|pipettes)$",
        "length",
        "how far the long run got before the client paused it (timing)",
    ),
    Allowed(
        r"^03 #(2[0-8]|3[0-3]) ",
        r"^data\[\d+\]\.",
        "value|added|missing|length",
        "which command the paused or stopped long run was at (timing)",
    ),
    Allowed(
        r"POST /sessions",
        r"^errors(\[0\]\.detail)?$",
        "length|value",
        "one readable validation error, not pydantic 1's one per session type (6)",
    ),
]


def _allowed(label: str, path: str, kind: str) -> bool:
    return any(
        re.search(a.where, label) and re.search(a.path, path) and re.fullmatch(a.kind, kind)
        for a in ALLOWED
    )


def _same_kind(expected: Any, actual: Any) -> bool:
    number = (int, float)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual)
    if isinstance(expected, number) and isinstance(actual, number):
        return True
    return type(expected) is type(actual)


def _as_json(text: str) -> Any:
    if text.startswith("{") and text.endswith("}"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    return None


def compare(expected: Any, actual: Any, path: str = "", label: str = "") -> list[str]:
    """Differences between recorded and actual JSON not explained by ``ALLOWED`` (for the
    exchange ``label``)."""
    found: list[str] = []

    def note(kind: str, text: str, where: str = path) -> None:
        if not _allowed(label, where, kind):
            found.append(f"{where or '<root>'}: {kind}: {text}")

    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() - actual.keys():
            sub = f"{path}.{key}" if path else key
            note("missing", repr(expected[key])[:80], sub)
        for key in actual.keys() - expected.keys():
            sub = f"{path}.{key}" if path else key
            note("added", repr(actual[key])[:80], sub)
        for key in sorted(expected.keys() & actual.keys()):
            sub = f"{path}.{key}" if path else key
            e, a = expected[key], actual[key]
            if key in TIME_KEYS and isinstance(e, str):
                if not (isinstance(a, str) and TIMESTAMP.match(a)):
                    found.append(f"{sub}: not a UTC ISO timestamp: {a!r}")
            elif key in OPAQUE_KEYS:
                if not isinstance(a, str):
                    found.append(f"{sub}: missing text")
            elif key == "key" and isinstance(e, str) and COMMAND_KEY.match(e):
                if not (isinstance(a, str) and COMMAND_KEY.match(a)):
                    note("value", f"expected a command key, got {a!r}", sub)
            else:
                found += compare(e, a, sub, label)
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            note("length", f"{len(expected)} recorded, {len(actual)} now")
        for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found += compare(e, a, f"{path}[{index}]", label)
        return found
    if not _same_kind(expected, actual):
        note("type", f"{expected!r} recorded, {actual!r} now")
    elif isinstance(expected, str) and UUID.fullmatch(expected):
        if not UUID.fullmatch(actual):
            note("value", f"expected a uuid, got {actual!r}")
    elif isinstance(expected, str) and _as_json(expected) is not None:
        parsed = _as_json(actual)
        if parsed is None:
            note("value", f"expected a JSON document, got {actual[:80]!r}")
        else:
            found += compare(_as_json(expected), parsed, f"{path}<json>", label)
    elif isinstance(expected, str) and UUID.search(expected):
        if UUID.sub("<id>", expected) != UUID.sub("<id>", actual):
            note("value", f"{expected!r} recorded, {actual!r} now")
    elif expected != actual:
        note("value", f"{expected!r} recorded, {actual!r} now")
    return found


# -- replaying -----------------------------------------------------------------------------------


class Replayer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.ids: dict[str, str] = {}

    def _map(self, text: str) -> str:
        return UUID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), text)

    def _map_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._map(value)
        if isinstance(value, list):
            return [self._map_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self._map_json(v) for k, v in value.items()}
        return value

    def send(self, request: dict[str, Any]) -> requests.Response:
        headers = {
            k: v
            for k, v in request["headers"].items()
            if k.lower() == "opentrons-version"
            or (k.lower() == "content-type" and request.get("raw_body") is not None)
        }
        query = request.get("query")
        kwargs: dict[str, Any] = {
            "headers": headers,
            "params": self._map_json(query) if query else None,
            "timeout": 60,
        }
        if request.get("multipart"):
            kwargs["files"] = [
                (p["field"], (p["filename"], p["text"].encode(), p["content_type"]))
                for p in request["multipart"]
            ]
            if request.get("form_fields"):
                kwargs["data"] = request["form_fields"]
        elif request.get("raw_body") is not None:
            kwargs["data"] = request["raw_body"].encode()
        elif request.get("json") is not None:
            kwargs["json"] = self._map_json(request["json"])
        return self.http.request(request["method"], self.url + self._map(request["path"]), **kwargs)

    def learn_ids(self, recorded: Any, actual: Any) -> None:
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for key in ("id", "commandId", "runId", "protocolId"):
                rid, aid = recorded.get(key), actual.get(key)
                if isinstance(rid, str) and isinstance(aid, str) and UUID.fullmatch(rid):
                    self.ids.setdefault(rid, aid)
            for key in recorded.keys() & actual.keys():
                self.learn_ids(recorded[key], actual[key])
        elif isinstance(recorded, list) and isinstance(actual, list):
            for r, a in zip(recorded, actual, strict=False):
                self.learn_ids(r, a)


def _signature(request: dict[str, Any]) -> tuple[Any, ...]:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return (
        request["method"],
        request["path"],
        json.dumps(request.get("query"), sort_keys=True),
        headers.get("opentrons-version"),
    )


def poll_groups(exchanges: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive identical GETs (the recorder's polls) grouped; everything else alone."""
    groups: list[list[dict[str, Any]]] = []
    for exchange in exchanges:
        request = exchange["request"]
        if (
            groups
            and request["method"] == "GET"
            and _signature(groups[-1][-1]["request"]) == _signature(request)
        ):
            groups[-1].append(exchange)
        else:
            groups.append([exchange])
    return groups


def state_of(body: Any) -> Any:
    """What a poll waits for: a run's status, or the statuses of a protocol's analyses."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None
    data = body["data"]
    if "analysisSummaries" in data:
        return tuple(s.get("status") for s in data["analysisSummaries"])
    if "status" in data:
        return data["status"]
    return None


TERMINAL = {"stopped", "failed", "succeeded"}


def behind(ours: Any, wanted: Any) -> bool:
    """Whether the simulator's state is one the recorded state comes after (waiting helps)."""
    if isinstance(wanted, tuple) and isinstance(ours, tuple) and len(ours) == len(wanted):
        return ours != wanted and all(
            o == w or (o, w) == ("pending", "completed") for o, w in zip(ours, wanted, strict=True)
        )
    if isinstance(wanted, str) and isinstance(ours, str):
        return (wanted in TERMINAL and ours not in TERMINAL) or (ours, wanted) == (
            "idle",
            "running",
        )
    return False


def scenarios() -> list[str]:
    return sorted(p.name for p in RECORDINGS.glob("0[0-9]_*.json") if not p.name.startswith("06_"))


@pytest.fixture(scope="module")
def replay_sim() -> Iterator[SimulatorHandle]:
    with start(
        port=0, robot_software=8, analysis_timeout=60, mqtt_broker="none", spare_workers=2
    ) as handle:
        yield handle


def clean(url: str) -> None:
    """The recorder's ``cleanup()``: stop and delete every run, delete every protocol."""
    with requests.Session() as http:
        http.headers["Opentrons-Version"] = "*"
        for run in http.get(f"{url}/runs", timeout=30).json()["data"]:
            if run["status"] not in ("stopped", "failed", "succeeded", "idle"):
                http.post(
                    f"{url}/runs/{run['id']}/actions",
                    json={"data": {"actionType": "stop"}},
                    timeout=30,
                )
                wait_until(
                    lambda r=run: (
                        http.get(f"{url}/runs/{r['id']}", timeout=30).json()["data"]["status"]
                        in ("stopped", "failed", "succeeded")
                    ),
                    timeout=60,
                )
            http.delete(f"{url}/runs/{run['id']}", timeout=30)
        for protocol in http.get(f"{url}/protocols", timeout=30).json()["data"]:
            http.delete(f"{url}/protocols/{protocol['id']}", timeout=30)


#: The recorder's unrecorded ``cleanup()`` calls inside a scenario: (scenario, after seq).
CLEANUPS = {("01", 5)}


def replay(scenario: str, url: str) -> list[str]:
    recording = json.loads((RECORDINGS / scenario).read_text())
    replayer = Replayer(url)
    problems: list[str] = []
    tag = scenario[:2]
    for group in poll_groups(recording["exchanges"]):
        last = group[-1]
        request, recorded = last["request"], last["response"]
        label = f"{tag} #{last['seq']} {request['method']} {request['path']} ({last.get('note')})"
        wanted = state_of(recorded.get("json"))
        if wanted is not None and request["method"] == "GET" and len(group) > 1:
            reply = wait_until(
                lambda r=request, w=wanted: (
                    (resp := replayer.send(r)).status_code == 200
                    and state_of(resp.json()) == w
                    and resp
                ),
                timeout=120,
                message=f"{label}: never reached {wanted!r}",
            )
        else:
            reply = replayer.send(request)
            if (
                wanted is not None
                and request["method"] == "GET"
                and reply.status_code == 200
                and behind(state_of(reply.json()), wanted)
            ):  # the recorder was a little later than the replay: wait for the same state
                reply = wait_until(
                    lambda r=request, w=wanted: (
                        (resp := replayer.send(r)).status_code == 200
                        and state_of(resp.json()) == w
                        and resp
                    ),
                    timeout=120,
                    message=f"{label}: never reached {wanted!r}",
                )
        if reply.status_code != recorded["status"] and _allowed(label, "", "status"):
            continue
        if reply.status_code != recorded["status"]:
            problems.append(
                f"{label}: status {reply.status_code}, recorded {recorded['status']}: "
                f"{reply.text[:300]}"
            )
            continue
        for header in ("opentrons-version", "opentrons-min-version"):
            if reply.headers.get(header) != recorded["headers"].get(header):
                problems.append(
                    f"{label}: header {header} {reply.headers.get(header)!r}, recorded "
                    f"{recorded['headers'].get(header)!r}"
                )
        if recorded.get("json") is not None:
            body = reply.json()
            replayer.learn_ids(recorded["json"], body)
            problems += [f"{label}: {p}" for p in compare(recorded["json"], body, "", label)]
        if (tag, int(last["seq"])) in CLEANUPS:
            clean(url)
    return problems


@pytest.mark.parametrize("scenario", scenarios())
def test_replay(scenario: str, replay_sim: SimulatorHandle) -> None:
    clean(replay_sim.url)
    problems = replay(scenario, replay_sim.url)
    clean(replay_sim.url)
    assert not problems, f"{len(problems)} unexplained differences:\n" + "\n".join(problems)


#: Routes of robot-server 8.1.0 (06) the software-8 simulator serves.
SERVED_ROUTES = {
    "/health": {"get"},
    "/settings": {"get", "post"},
    "/sessions": {"get", "post"},
    "/protocols": {"get", "post"},
    "/protocols/ids": {"get"},
    "/protocols/{protocolId}": {"get", "delete"},
    "/protocols/{protocolId}/analyses": {"get", "post"},
    "/protocols/{protocolId}/analyses/{analysisId}": {"get"},
    "/protocols/{protocolId}/analyses/{analysisId}/asDocument": {"get"},
    "/runs": {"get", "post"},
    "/runs/{runId}": {"get", "patch", "delete"},
    "/runs/{runId}/actions": {"post"},
    "/runs/{runId}/commands": {"get", "post"},
    "/runs/{runId}/commands/{commandId}": {"get"},
    "/runs/{runId}/commandsAsPreSerializedList": {"get"},
    "/runs/{runId}/commandErrors": {"get"},
}


def test_openapi_describes_the_recorded_routes(replay_sim: SimulatorHandle) -> None:
    recorded = json.loads((RECORDINGS / "06_openapi_spec.json").read_text())["exchanges"][0]
    recorded_paths = recorded["response"]["json"]["paths"]
    reply = requests.get(replay_sim.url + "/openapi.json", timeout=30)
    assert reply.status_code == 200, "the document needs no version header"
    assert "opentrons-version" not in reply.headers  # as recorded
    ours = reply.json()["paths"]
    for path, methods in SERVED_ROUTES.items():
        assert methods <= set(recorded_paths[path]), f"{path} is not robot-server 8.1.0's"
        assert methods <= set(ours.get(path, {})), f"{path}: {sorted(ours.get(path, {}))}"
        for method in methods:
            responses = ours[path][method]["responses"]
            success = [code for code in responses if code.startswith("2")]
            if (method, path) == ("post", "/sessions"):  # always 403: no calibration here
                success = ["403"]
            assert success, f"{method} {path} documents no success"
            for code in success:
                schema = responses[code].get("content", {}).get("application/json", {})
                assert schema.get("schema"), f"{method} {path} {code} has no response model"
            assert "422" in responses
