"""Bad input gets a clear 4xx JSON error and loses nothing; every state's command rules."""

from __future__ import annotations

import json
import os

import pytest
import requests
import websocket

from ot2_notebook import session_states as states
from tests.conftest import CHUNKED_UPLOAD_TYPE, EXAMPLES, VERSION, Api, chunked_upload

pytestmark = pytest.mark.usefixtures("clean_robot")


def errors_of(reply: requests.Response) -> list[dict]:
    body = reply.json()
    assert isinstance(body.get("errors"), list) and body["errors"], body
    for item in body["errors"]:
        # both 4.x flavours: `id` (4.4-4.7) and `status` (4.0-4.3)
        assert item["id"] and item["status"] == str(reply.status_code) and item["title"]
        assert item["detail"]
    return body["errors"]


# -- Opentrons-Version -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/protocols", "/sessions", "/sessions/abc"])
def test_missing_version_header_is_422_pointing_at_the_header(robot_url: str, path: str) -> None:
    reply = requests.get(robot_url + path, timeout=10)
    assert reply.status_code == 422
    [error] = errors_of(reply)
    assert error["id"] == "InvalidRequest"
    assert error["detail"] == "field required"
    assert error["source"] == {"header": "opentrons-version"}
    assert reply.headers["Opentrons-Version"] == "2"
    assert reply.headers["Opentrons-Min-Version"] == "2"


@pytest.mark.parametrize("path", ["/health", "/settings"])
def test_legacy_routes_answer_a_missing_header_with_a_message(robot_url: str, path: str) -> None:
    reply = requests.get(robot_url + path, timeout=10)
    assert reply.status_code == 422
    assert reply.json() == {"message": "header.opentrons-version: field required"}


@pytest.mark.parametrize("path", ["/protocols", "/health", "/sessions/abc"])
def test_old_version_is_400_outdated(robot_url: str, path: str) -> None:
    reply = requests.get(robot_url + path, headers={"Opentrons-Version": "1"}, timeout=10)
    assert reply.status_code == 400
    [error] = errors_of(reply)
    assert error["id"] == "OutdatedAPIVersion"
    assert "must be at least '2'" in error["detail"]


@pytest.mark.parametrize("value", ["2", "3", "99", "*"])
def test_current_newer_and_star_versions_are_served(robot_url: str, value: str) -> None:
    reply = requests.get(robot_url + "/protocols", headers={"opentrons-version": value}, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Opentrons-Version"] == "2"


def test_garbage_version_is_422(robot_url: str) -> None:
    reply = requests.get(robot_url + "/protocols", headers={"Opentrons-Version": "abc"}, timeout=10)
    assert reply.status_code == 422
    details = [e["detail"] for e in errors_of(reply)]
    assert "value is not a valid integer" in details
    assert all(e["source"] == {"header": "opentrons-version"} for e in errors_of(reply))


# -- unknown ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_protocol_is_404(api: Api, method: str) -> None:
    reply = api.request(method, "/protocols/nope")
    assert reply.status_code == 404
    [error] = errors_of(reply)
    assert error["title"] == "Resource Not Found"
    assert error["detail"] == "Resource type 'protocol' with id 'nope' was not found"


def test_patch_unknown_protocol_is_404(api: Api) -> None:
    reply = api.patch("/protocols/nope", files={"file": ("extra.json", b"{}")})
    assert reply.status_code == 404


def test_session_for_unknown_protocol_is_404(api: Api) -> None:
    reply = api.post(
        "/sessions",
        json={"data": {"sessionType": "protocol", "createParams": {"protocolId": "nope"}}},
    )
    assert reply.status_code == 404
    assert "'protocol' with id 'nope'" in errors_of(reply)[0]["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sessions/nope"),
        ("DELETE", "/sessions/nope"),
        ("POST", "/sessions/nope/commands/execute"),
    ],
)
def test_unknown_session_is_404_with_links(api: Api, method: str, path: str) -> None:
    body = {"data": {"command": "protocol.startRun", "data": {}}} if method == "POST" else None
    reply = api.request(method, path, json=body)
    assert reply.status_code == 404
    assert errors_of(reply)[0]["detail"] == "Resource type 'session' with id 'nope' was not found"
    assert reply.json()["links"] == {
        "self": {"href": "/sessions"},
        "sessionById": {"href": "/sessions/{sessionId}"},
    }


# -- malformed bodies and commands --------------------------------------------------------


@pytest.fixture
def loaded_session(api: Api) -> str:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    api.wait_for_state(session_id, "loaded")
    return session_id


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": {"command": "protocol.startRun"}}, "/data/data"),
        ({"command": "protocol.startRun", "data": {}}, "/data/command"),
        ({"data": {"data": {}}}, "/data/command"),
        ({"data": "startRun"}, "/data"),
    ],
)
def test_malformed_command_bodies_are_422(
    api: Api, loaded_session: str, body: dict, pointer: str
) -> None:
    reply = api.post(f"/sessions/{loaded_session}/commands/execute", json=body)
    assert reply.status_code == 422
    assert pointer in [e.get("source", {}).get("pointer") for e in errors_of(reply)]
    assert api.state(loaded_session) == "loaded", "nothing happened"


def test_non_json_command_body_is_422(api: Api, loaded_session: str) -> None:
    reply = api.post(
        f"/sessions/{loaded_session}/commands/execute",
        data=b"not json",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 422
    assert errors_of(reply)[0]["id"] == "InvalidRequest"


def test_unknown_command_is_422_listing_the_commands(api: Api, loaded_session: str) -> None:
    reply = api.command(loaded_session, "protocol.fly")
    assert reply.status_code == 422
    [error] = errors_of(reply)
    assert error["detail"].startswith("unexpected value; permitted:")
    assert "protocol.startRun" in error["detail"]


def test_calibration_commands_are_refused_by_state(api: Api, loaded_session: str) -> None:
    reply = api.post(
        f"/sessions/{loaded_session}/commands/execute",
        json={"data": {"command": "calibration.jog", "data": {"vector": [0, 0, 1]}}},
    )
    assert reply.status_code == 403
    assert errors_of(reply)[0]["detail"] == "Can't execute 'calibration.jog' during state 'loaded'"


def test_extra_fields_in_command_data_are_ignored(api: Api, loaded_session: str) -> None:
    reply = api.post(
        f"/sessions/{loaded_session}/commands/execute",
        json={"data": {"command": "protocol.startRun", "data": {"unexpected": 1}}},
    )
    assert reply.status_code == 200
    assert reply.json()["data"]["data"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": {"sessionType": "protocol"}},
        {"data": {"sessionType": "bogus", "createParams": {"protocolId": "x"}}},
        {"data": {"sessionType": "protocol", "createParams": {}}},
    ],
)
def test_malformed_session_bodies_are_422(api: Api, body: dict) -> None:
    reply = api.post("/sessions", json=body)
    assert reply.status_code == 422, reply.text
    errors_of(reply)


def test_other_session_types_are_refused_clearly(api: Api) -> None:
    reply = api.post("/sessions", json={"data": {"sessionType": "calibrationCheck"}})
    assert reply.status_code == 403
    assert "protocol sessions only" in errors_of(reply)[0]["detail"]


def test_bad_session_type_filter_is_422(api: Api) -> None:
    reply = api.get("/sessions", params={"session_type": "bogus"})
    assert reply.status_code == 422
    assert errors_of(reply)[0]["source"] == {"parameter": "session_type"}


# -- uploads ------------------------------------------------------------------------------


def test_upload_without_protocol_file_is_422(api: Api) -> None:
    reply = api.post("/protocols", files=[("supportFiles", ("helpers.py", b"x = 1"))])
    assert reply.status_code == 422
    assert errors_of(reply)[0]["source"] == {"pointer": "/protocolFile"}
    json_body = api.post("/protocols", json={"protocolFile": "x"})
    assert json_body.status_code == 422


@pytest.mark.parametrize(
    "name", ["../../escape.py", "sub/dir.py", "..", ".hidden.py", "a\\b.py", "tab\there.py"]
)
def test_support_file_names_with_paths_are_refused(api: Api, name: str, sim) -> None:
    reply = api.post(
        "/protocols",
        files=[
            ("protocolFile", ("moves.py", (EXAMPLES / "moves.py").read_bytes())),
            ("supportFiles", (name, b"x = 1")),
        ],
    )
    assert reply.status_code == 422
    assert "plain file name" in errors_of(reply)[0]["detail"]
    assert api.get("/protocols").json()["data"] == [], "nothing was stored"


def test_traversal_never_writes_outside_the_data_folder(start_sim, tmp_path) -> None:
    data_dir = tmp_path / "robot"
    handle = start_sim(data_dir=data_dir, max_protocols=5)
    with Api(handle.url) as api:
        for name in ("../escape.py", "../../escape.py", "/tmp/escape.py"):
            api.post(
                "/protocols",
                files=[
                    ("protocolFile", ("moves.py", (EXAMPLES / "moves.py").read_bytes())),
                    ("supportFiles", (name, b"x = 1")),
                ],
            )
        protocol_name = api.post("/protocols", files=[("protocolFile", ("../evil.py", b"x = 1"))])
        assert protocol_name.status_code == 422
    written = {p.name for p in tmp_path.rglob("escape.py")} | {
        p.name for p in tmp_path.rglob("evil.py")
    }
    assert written == set()
    assert not os.path.exists("/tmp/escape.py")


@pytest.mark.parametrize("name", ["two\nlines.py", "carriage\r.py", "already%0Aescaped.py"])
def test_names_with_line_breaks_are_refused_and_leave_nothing(start_sim, tmp_path, name) -> None:
    """requests, curl and browsers send a line break in a file name as %0A or %0D (the HTML
    standard): the robot reads it as the line break it is and refuses the name, rather than
    storing a protocol ``two%0Alines`` that no URL can name (nor delete)."""
    data_dir = tmp_path / "robot"
    handle = start_sim(data_dir=data_dir)
    with Api(handle.url) as api:
        for field in ("protocolFile", "supportFiles"):
            files = [("protocolFile", ("moves.py", (EXAMPLES / "moves.py").read_bytes()))]
            if field == "protocolFile":
                files = [("protocolFile", (name, b"x = 1"))]
            else:
                files.append(("supportFiles", (name, b"x = 1")))
            reply = api.post("/protocols", files=files)
            assert reply.status_code == 422, reply.text
            assert "contains control or invisible characters" in errors_of(reply)[0]["detail"]
            assert api.get("/protocols").json()["data"] == []
        assert list((data_dir / "protocols").iterdir()) == [], "a folder was left behind"


def test_binary_protocol_file_is_422(api: Api) -> None:
    reply = api.post(
        "/protocols", files=[("protocolFile", ("image.py", b"\x89PNG\r\n\x1a\n\x00\x00"))]
    )
    assert reply.status_code == 422
    assert "binary" in errors_of(reply)[0]["detail"]


def test_undecodable_protocol_file_is_422(api: Api) -> None:
    reply = api.post(
        "/protocols", files=[("protocolFile", ("latin.py", "x = 'é'".encode("latin-1")))]
    )
    assert reply.status_code == 422
    assert "not UTF-8" in errors_of(reply)[0]["detail"]


def test_text_file_as_protocol_is_stored_with_a_syntax_error(api: Api) -> None:
    reply = api.post("/protocols", files=[("protocolFile", ("notes.txt", b"just some notes"))])
    assert reply.status_code == 201
    body = reply.json()["data"]
    assert body["id"] == "notes"
    assert body["errors"][0]["type"] == "SyntaxError"
    assert body["errors"][0]["fileName"] == "notes.txt"


def test_oversized_file_is_413_and_nothing_is_stored(start_sim) -> None:
    handle = start_sim(max_upload_mb=1)
    with Api(handle.url) as api:
        big = b"# " + b"x" * (2 * 1024 * 1024)
        reply = api.post("/protocols", files=[("protocolFile", ("big.py", big))])
        assert reply.status_code == 413
        assert errors_of(reply)[0]["title"] == "Payload Too Large"
        assert api.get("/protocols").json()["data"] == []
        # and the robot still works
        assert api.upload("moves.py")["data"]["errors"] == []


def test_oversized_chunked_upload_is_413(start_sim) -> None:
    handle = start_sim(max_upload_mb=1)

    reply = requests.post(
        handle.url + "/protocols",
        data=chunked_upload("protocolFile"),
        headers={**VERSION, **CHUNKED_UPLOAD_TYPE},
        timeout=30,
    )
    assert reply.status_code == 413
    assert errors_of(reply)[0]["title"] == "Payload Too Large"
    assert "--max-upload-mb" in errors_of(reply)[0]["detail"]
    assert reply.headers["opentrons-version"]
    with Api(handle.url) as api:
        assert api.get("/protocols").json()["data"] == []
        assert api.upload("moves.py")["data"]["errors"] == []


def test_too_many_files_is_422(api: Api) -> None:
    files = [("protocolFile", ("moves.py", (EXAMPLES / "moves.py").read_bytes()))]
    files += [("supportFiles", (f"f{i}.csv", b"a,b")) for i in range(70)]
    reply = api.post("/protocols", files=files)
    assert reply.status_code == 422
    assert "at most" in errors_of(reply)[0]["detail"]


def test_duplicate_file_names_in_one_upload_are_422(api: Api) -> None:
    reply = api.post(
        "/protocols",
        files=[
            ("protocolFile", ("moves.py", (EXAMPLES / "moves.py").read_bytes())),
            ("supportFiles", ("a.csv", b"1")),
            ("supportFiles", ("a.csv", b"2")),
        ],
    )
    assert reply.status_code == 422


def test_duplicate_protocol_id_is_403_resource_exists(api: Api) -> None:
    first = api.upload("moves.py")
    reply = api.post("/protocols", files=[("protocolFile", ("moves.py", b"changed"))])
    assert reply.status_code == 403
    [error] = errors_of(reply)
    assert error["title"] == "Resource Exists"
    assert error["detail"].startswith("A protocol with id 'moves' already exists.")
    assert api.get("/protocols/moves").json()["data"] == first["data"], "the stored one is intact"


def test_upload_limit_keeps_the_stored_protocol(start_sim) -> None:
    handle = start_sim()  # max_protocols=1, as the robot
    with Api(handle.url) as api:
        first = api.upload("moves.py")
        reply = api.post(
            "/protocols",
            files=[("protocolFile", ("raises.py", (EXAMPLES / "raises.py").read_bytes()))],
        )
        assert reply.status_code == 403
        [error] = errors_of(reply)
        assert (error["title"], error["detail"]) == (
            "Action Forbidden",
            "Upload limit of 1 has been reached.",
        )
        assert api.get("/protocols").json()["data"] == [first["data"]]
        assert api.delete("/protocols/moves").status_code == 200
        assert api.upload("raises.py")["data"]["id"] == "raises"


def test_websocket_without_topic_is_refused(robot_url: str) -> None:
    url = robot_url.replace("http", "ws") + "/notifications/subscribe"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=10)
    assert refused.value.status_code == 403


def test_unknown_route_is_an_enveloped_404(api: Api) -> None:
    reply = api.get("/no/such/route")
    assert reply.status_code == 404
    errors_of(reply)


# -- the state table ----------------------------------------------------------------------

#: The commands a protocol session of robot software 4.7 takes, and which one it allows in
#: which state (recordings 05 and 12). Written out here on purpose, not read from
#: ``ot2_notebook/session_states.py``: the simulator's code reads that table, and these tests
#: must fail when it drifts from the robot's.
PROTOCOL_COMMANDS = (
    "protocol.startRun",
    "protocol.startSimulate",
    "protocol.pause",
    "protocol.resume",
    "protocol.cancel",
)
ROBOT_4_7_RULES: dict[str, set[str]] = {
    "stopped": set(),
    "loaded": {"protocol.startRun", "protocol.startSimulate"},
    "running": {"protocol.pause", "protocol.cancel"},
    "paused": {"protocol.resume", "protocol.cancel"},
    "finished": {"protocol.startRun", "protocol.startSimulate"},
    "error": set(),
}


def test_the_shared_state_table_is_the_robots() -> None:
    assert set(states.PROTOCOL_COMMANDS) == set(PROTOCOL_COMMANDS)
    assert set(states.STATES) == set(ROBOT_4_7_RULES)
    for state, allowed in ROBOT_4_7_RULES.items():
        assert set(states.ALLOWED_COMMANDS[state]) == allowed, state
        for command in PROTOCOL_COMMANDS:
            assert states.is_allowed(state, command) == (command in allowed), (state, command)


def assert_command_rules(
    api: Api, session_id: str, state: str, *, skip: tuple[str, ...] = ()
) -> None:
    """Every command the robot refuses in ``state`` gets 403 naming the command and the state."""
    for command in PROTOCOL_COMMANDS:
        if command in ROBOT_4_7_RULES[state] or command in skip:
            continue
        reply = api.command(session_id, command)
        assert reply.status_code == 403, (command, state, reply.text)
        assert errors_of(reply)[0]["detail"] == f"Can't execute '{command}' during state '{state}'"


def test_rules_while_loading_in_state_stopped(api: Api) -> None:
    api.upload("slow_load.py")
    session_id = api.create_session("slow_load")
    assert api.session(session_id)["details"] == {
        "protocolId": "slow_load",
        "currentState": "stopped",
        "events": [],
        "errors": [],
    }
    assert_command_rules(api, session_id, "stopped")
    api.wait_for_state(session_id, "loaded")


def test_rules_in_loaded_finished_running_and_cancelled(api: Api) -> None:
    api.upload("long_run.py")
    session_id = api.create_session("long_run")
    api.wait_for_state(session_id, "loaded")
    assert_command_rules(api, session_id, "loaded")
    assert api.command(session_id, "protocol.startRun").status_code == 200
    api.wait_for_state(session_id, "running")
    assert_command_rules(api, session_id, "running")
    assert api.command(session_id, "protocol.cancel").status_code == 200
    assert api.state(session_id) == "stopped"
    assert_command_rules(api, session_id, "stopped")


def test_rules_in_error(api: Api) -> None:
    api.upload("raises.py")
    session_id = api.create_session("raises")
    failed = api.wait_for_state(session_id, "error")
    assert failed["details"]["errors"][0]["description"] == "volume must be positive"
    assert_command_rules(api, session_id, "error")


def test_rules_in_finished(api: Api) -> None:
    api.upload("moves.py")
    session_id = api.create_session("moves")
    api.wait_for_state(session_id, "loaded")
    api.command(session_id, "protocol.startRun")
    api.wait_for_state(session_id, "finished")
    assert_command_rules(api, session_id, "finished")


def test_settings_flag_controls_session_creation(start_sim) -> None:
    handle = start_sim(protocol_sessions=False)
    with Api(handle.url) as api:
        listed = {s["id"]: s for s in api.get("/settings").json()["settings"]}
        assert listed["enableHttpProtocolSessions"]["value"] is None
        refused = api.post(
            "/sessions",
            json={"data": {"sessionType": "protocol", "createParams": {"protocolId": "nope"}}},
        )
        assert refused.status_code == 403
        assert errors_of(refused)[0]["detail"] == "HTTP Protocol Session feature is disabled"
        reply = api.post("/settings", json={"id": "enableHttpProtocolSessions", "value": True})
        assert reply.status_code == 200
        flag = {s["id"]: s for s in reply.json()["settings"]}["enableHttpProtocolSessions"]
        assert flag["value"] is True
        api.upload("moves.py")
        assert api.create_session("moves")
        bad = api.post("/settings", json={"id": "noSuchSetting", "value": True})
        assert bad.status_code == 422
        assert "GET /settings" in json.dumps(bad.json())


def test_wrong_method_names_the_allowed_ones(api: Api) -> None:
    reply = api.put("/protocols/anything")
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "DELETE, GET, PATCH"
    assert errors_of(reply)[0]["detail"] == (
        "PUT is not allowed on /protocols/anything; use DELETE or GET or PATCH."
    )


def test_unreadable_upload_body_says_how_to_upload(api: Api) -> None:
    reply = api.post("/protocols", data=b"junk", headers={"Content-Type": "multipart/form-data"})
    assert reply.status_code == 400
    assert "multipart/form-data with a protocolFile field" in errors_of(reply)[0]["detail"]


def test_openapi_documents_the_error_envelope(robot_url: str) -> None:
    document = requests.get(robot_url + "/openapi.json", timeout=10).json()
    responses = document["paths"]["/protocols"]["post"]["responses"]
    assert {"201", "403", "413", "422"} <= set(responses)
    schema = responses["422"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}
    legacy = document["paths"]["/health"]["get"]["responses"]["422"]
    refs = [s["$ref"] for s in legacy["content"]["application/json"]["schema"]["anyOf"]]
    assert refs == [
        "#/components/schemas/LegacyValidationError",
        "#/components/schemas/ErrorEnvelope",
    ]


def test_openapi_describes_every_answer(robot_url: str) -> None:
    """Every operation names the schema of its success answer and of each error it lists."""
    document = requests.get(robot_url + "/openapi.json", timeout=10).json()
    schemas = document["components"]["schemas"]
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 11
    for label, operation in operations:
        responses = operation["responses"]
        successes = [code for code in responses if code.startswith("2")]
        assert len(successes) == 1, (label, sorted(responses))
        for code, response in responses.items():
            schema = response["content"]["application/json"]["schema"]
            refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
            assert refs and all(ref.startswith("#/components/schemas/") for ref in refs), (
                label,
                code,
                schema,
            )
            for ref in refs:
                described = schemas[ref.rsplit("/", 1)[1]]
                assert described["properties"] and described.get("required"), (label, code, ref)
        assert {"403", "422"} <= set(responses), label
    session = schemas["SessionDetails"]["properties"]
    assert set(session) == {"protocolId", "currentState", "events", "errors"}
    assert schemas["SessionDetails"]["properties"]["currentState"]["enum"] == [
        "stopped",
        "loaded",
        "running",
        "paused",
        "finished",
        "error",
    ]
