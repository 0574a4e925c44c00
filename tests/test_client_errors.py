"""Reading the robot's error envelopes into RobotError subclasses.

No network here on purpose: these tests feed the exact bodies the real 4.x robot-server
sends (copied from ``reference/robot-server-4``) and bodies no robot sends (HTML, garbage),
which the simulator cannot produce. What the client does with live answers is tested
against ``ot2-sim`` in ``test_client_http.py``.
"""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ot2_notebook.client.errors import (
    CommandNotAllowedError,
    FeatureDisabledError,
    NotFoundError,
    ProtocolExistsError,
    RobotError,
    SessionNotActiveError,
    UnexpectedResponseError,
    UploadLimitError,
    error_from_response,
    parse_error_body,
)

REQUEST = "POST http://127.0.0.1:31950/protocols"


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


# Verbatim from the 4.7.0 recordings (files 00, 03, 04, 05, 06, 02).
FLAG_OFF_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Action Forbidden",
            "detail": "HTTP Protocol Session feature is disabled",
        }
    ]
}
UPLOAD_LIMIT_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Action Forbidden",
            "detail": "Upload limit of 1 has been reached.",
        }
    ]
}
EXISTS_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Resource Exists",
            "detail": "A 'protocol' with id 'A protocol with id 'basic_transfer' already exists' "
            "already exists",
        }
    ]
}
SESSION_404_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Resource Not Found",
            "detail": "Resource type 'session' with id 'nope' was not found",
        }
    ],
    "links": {"self": {"href": "/sessions"}, "sessionById": {"href": "/sessions/{sessionId}"}},
}
PAUSE_IN_LOADED_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Action Forbidden",
            "detail": "Can't execute 'protocol.pause' during state 'loaded'",
        }
    ]
}
NOT_ACTIVE_47 = {
    "errors": [
        {
            "id": "UncategorizedError",
            "title": "Action Forbidden",
            "detail": "Session '3e21cb37-7e00-4caf-844b-2542148e8738' is not active. Only the "
            "active session can execute commands",
        }
    ]
}
MISSING_FIELD_422_47 = {
    "errors": [
        {
            "id": "InvalidRequest",
            "title": "Invalid Request",
            "detail": "field required",
            "source": {"pointer": "/data/data"},
        },
        {
            "id": "InvalidRequest",
            "title": "Invalid Request",
            "detail": "field required",
            "source": {"pointer": "/data/data"},
        },
        {
            "id": "InvalidRequest",
            "title": "Invalid Request",
            "detail": "field required",
            "source": {"pointer": "/data/command"},
        },
    ]
}
LEGACY_MISSING_HEADER = {"message": "header.opentrons-version: field required"}
OUTDATED_VERSION_47 = {
    "errors": [
        {
            "id": "OutdatedAPIVersion",
            "title": "Requested HTTP API version no longer supported",
            "detail": "The requested API version '1' is not supported. 'Opentrons-Version' must "
            "be at least '2'. Please upgrade your Opentrons App or other HTTP API client.",
        }
    ]
}
# Robot software 4.0-4.3 put ``status`` where 4.4+ put ``id``.
FLAG_OFF_40 = {
    "errors": [
        {
            "status": "403",
            "title": "Action Forbidden",
            "detail": "HTTP Protocol Session feature is disabled",
        }
    ]
}


def test_47_envelope_fields_are_all_kept() -> None:
    error = error_from_response(403, body(UPLOAD_LIMIT_47), reason="Forbidden", request=REQUEST)
    assert isinstance(error, UploadLimitError)
    assert (error.status, error.error_id, error.title, error.detail, error.request) == (
        403,
        "UncategorizedError",
        "Action Forbidden",
        "Upload limit of 1 has been reached.",
        REQUEST,
    )
    assert error.limit == 1


def test_40_envelope_with_status_instead_of_id_is_read() -> None:
    error = error_from_response(403, body(FLAG_OFF_40), reason="Forbidden")
    assert isinstance(error, FeatureDisabledError)
    assert error.error_id is None
    assert error.entries[0].status == "403"
    assert error.detail == "HTTP Protocol Session feature is disabled"


@pytest.mark.parametrize("payload", [FLAG_OFF_47, FLAG_OFF_40])
def test_feature_flag_message_says_how_to_turn_it_on(payload: dict[str, object]) -> None:
    text = str(error_from_response(403, body(payload), request="POST http://r:31950/sessions"))
    assert "HTTP Protocol Session feature is disabled" in text
    assert "Advanced Settings" in text and "Enable Experimental HTTP Protocol Sessions" in text
    assert 'set_setting("enableHttpProtocolSessions", True)' in text


def test_legacy_message_envelope() -> None:
    error = error_from_response(422, body(LEGACY_MISSING_HEADER), reason="Unprocessable Entity")
    assert type(error) is RobotError
    assert error.title == "Unprocessable Entity"
    assert error.detail == "header.opentrons-version: field required"


def test_outdated_version_says_what_software_is_needed() -> None:
    error = error_from_response(400, body(OUTDATED_VERSION_47), reason="Bad Request")
    assert error.error_id == "OutdatedAPIVersion"
    assert "robot software 4.x" in error.hint


def test_422_fan_out_is_deduplicated_and_keeps_pointers() -> None:
    error = error_from_response(422, body(MISSING_FIELD_422_47))
    assert error.detail == "field required (at /data/data); field required (at /data/command)"
    assert len(error.entries) == 3
    assert error.source == {"pointer": "/data/data"}


def test_garbled_resource_exists_detail_is_replaced_when_the_id_is_known() -> None:
    error = error_from_response(403, body(EXISTS_47))
    assert isinstance(error, ProtocolExistsError)
    again = ProtocolExistsError(
        error.status,
        error.error_id,
        error.title,
        error.detail,
        REQUEST,
        protocol_id="basic_transfer",
    )
    assert again.detail == "a protocol with id 'basic_transfer' is already on the robot"
    assert "replace=True" in str(again) and "delete_protocol('basic_transfer')" in str(again)


def test_command_not_allowed_names_command_state_and_what_is_allowed() -> None:
    error = error_from_response(403, body(PAUSE_IN_LOADED_47))
    assert isinstance(error, CommandNotAllowedError)
    assert (error.command, error.state) == ("protocol.pause", "loaded")
    assert "startRun" in error.hint and "startSimulate" in error.hint
    assert "pause" not in error.hint.split(":", 1)[1]


def test_session_not_active() -> None:
    error = error_from_response(403, body(NOT_ACTIVE_47))
    assert isinstance(error, SessionNotActiveError)
    assert "newest session" in error.hint


def test_not_found_reads_resource_type_and_id() -> None:
    error = error_from_response(404, body(SESSION_404_47))
    assert isinstance(error, NotFoundError)
    assert (error.resource_type, error.resource_id) == ("session", "nope")
    assert "create_session" in error.hint
    protocol = error_from_response(
        404,
        body(
            {
                "errors": [
                    {
                        "id": "UncategorizedError",
                        "title": "Resource Not Found",
                        "detail": "Resource type 'protocol' with id 'x' was not found",
                    }
                ]
            }
        ),
    )
    assert "robot.protocols()" in protocol.hint


def test_html_body_becomes_a_readable_error() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad gateway</h1></body>"
    error = error_from_response(502, page, reason="Bad Gateway", request=REQUEST)
    assert type(error) is RobotError
    assert error.title == "Bad Gateway"
    assert "non-JSON" in error.detail and "Bad gateway" in error.detail
    assert "<h1>" not in error.detail
    assert "restart the robot" in error.hint


def test_html_404_means_another_server_not_a_missing_resource() -> None:
    error = error_from_response(404, b"<h1>Not Found</h1>", reason="Not Found")
    assert isinstance(error, UnexpectedResponseError)
    assert "31950" in error.hint


def test_empty_body_uses_the_reason_phrase() -> None:
    parsed = parse_error_body(b"", "Service Unavailable")
    assert (parsed.title, parsed.detail) == ("Service Unavailable", "")
    assert str(error_from_response(503, None, reason="Service Unavailable")).startswith(
        "Service Unavailable [HTTP 503]"
    )


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "just a string",
        42,
        None,
        {"errors": "not a list"},
        {"errors": [1, 2, "x"]},
        {"errors": [{}]},
        {"errors": [{"title": None, "detail": {"nested": [1]}}]},
        {"detail": [{"loc": ["body"], "msg": "field required"}]},
        {"detail": "Not Found"},
        {"unrelated": True},
    ],
)
def test_odd_json_shapes_never_raise(payload: object) -> None:
    error = error_from_response(400, body(payload), reason="Bad Request")
    assert isinstance(error, RobotError)
    assert str(error)  # the message can always be rendered


@settings(deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=400, max_value=599))
def test_any_bytes_give_a_robot_error(raw: bytes, status: int) -> None:
    error = error_from_response(status, raw, reason="Reason")
    assert isinstance(error, RobotError)
    assert error.status == status
    str(error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
entry_keys = st.sampled_from(["id", "status", "title", "detail", "source", "message"])
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "errors": st.lists(st.dictionaries(entry_keys, json_values, max_size=6), max_size=3)
        | json_values,
        "message": json_values,
        "detail": json_values,
        "links": json_values,
    },
)


@settings(deadline=None)
@given(envelopes, st.sampled_from([400, 403, 404, 409, 413, 422, 500]))
def test_any_json_envelope_gives_a_robot_error(payload: dict[str, object], status: int) -> None:
    error = error_from_response(status, body(payload), reason="Reason")
    assert isinstance(error, RobotError)
    str(error)


def test_message_has_what_happened_where_and_what_to_do() -> None:
    error = error_from_response(403, body(UPLOAD_LIMIT_47), request=REQUEST)
    error.occupants = ("basic_transfer",)
    text = str(error)
    assert text.splitlines()[0] == (
        f"Action Forbidden: Upload limit of 1 has been reached. [HTTP 403 on {REQUEST}]"
    )
    assert "'basic_transfer'" in text and "robot.delete_protocol('basic_transfer')" in text
    assert "it keeps at most 1 protocol." in text


def test_errors_survive_pickling_with_their_message() -> None:
    error = error_from_response(403, body(PAUSE_IN_LOADED_47), request=REQUEST)
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, RobotError)
    assert str(clone) == str(error)
