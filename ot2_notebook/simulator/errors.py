"""The errors the simulated robot reports, as plain exceptions that know their robot envelope.

The managers (protocol store, sessions, settings) raise these; ``api/handlers.py`` turns them
into HTTP answers. They live here, below both, so that no manager imports the HTTP layer.

Robot software 4.4-4.7 sends ``{"errors": [{"id", "title", "detail", "source"?}]}``; 4.0-4.3
sent ``status`` instead of ``id``. The simulator sends both so that clients written for either
work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

UNCATEGORIZED = "UncategorizedError"
INVALID_REQUEST = "InvalidRequest"

SESSION_LINKS = {"self": {"href": "/sessions"}, "sessionById": {"href": "/sessions/{sessionId}"}}


class RobotServerError(Exception):
    """An error the robot reports to the client, with its HTTP status and envelope."""

    status_code = 500
    title = "Internal Server Error"
    error_id = UNCATEGORIZED

    def __init__(
        self,
        detail: str,
        *,
        source: Mapping[str, str] | None = None,
        links: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.source = source
        self.links = links

    def items(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {
            "id": self.error_id,
            "status": str(self.status_code),
            "title": self.title,
            "detail": self.detail,
        }
        if self.source:
            item["source"] = dict(self.source)
        return [item]


class ResourceNotFound(RobotServerError):
    status_code = 404
    title = "Resource Not Found"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(
            f"Resource type '{resource}' with id '{resource_id}' was not found",
            links=SESSION_LINKS if resource == "session" else None,
        )


class ActionForbidden(RobotServerError):
    status_code = 403
    title = "Action Forbidden"


class ResourceExists(RobotServerError):
    status_code = 403
    title = "Resource Exists"


class PayloadTooLarge(RobotServerError):
    status_code = 413
    title = "Payload Too Large"
    error_id = "PayloadTooLarge"


class HostNotAllowed(RobotServerError):
    """The request names a host (``Host`` header) that is not this machine."""

    status_code = 403
    title = "Host Not Allowed"
    error_id = "HostNotAllowed"


class OriginNotAllowed(RobotServerError):
    """A browser sent the request from a page of another site (``Origin`` header)."""

    status_code = 403
    title = "Origin Not Allowed"
    error_id = "OriginNotAllowed"


class WouldDeadlock(RobotServerError):
    """Robot-like mode: a request that hangs a real robot-server 4.7 for good (a cancel or
    delete of a paused session, recordings 15 and 16), refused rather than imitated."""

    status_code = 409
    title = "Would Deadlock The Robot"
    error_id = "WouldDeadlock"

    def __init__(self, request: str, session_id: str) -> None:
        super().__init__(
            f"{request} of session '{session_id}' while it is paused deadlocks robot-server "
            "4.7: it never answers again and only a restart of the robot ends it. ot2-sim "
            "--robot-like refuses it (and records it in GET /simulator/requests). Resume the "
            "run first (protocol.resume), then cancel or delete it."
        )


class OutdatedAPIVersion(RobotServerError):
    status_code = 400
    title = "Requested HTTP API version no longer supported"
    error_id = "OutdatedAPIVersion"

    def __init__(self, requested: int, minimum: int) -> None:
        super().__init__(
            f"The requested API version '{requested}' is not supported. 'Opentrons-Version' "
            f"must be at least '{minimum}'. Please upgrade your Opentrons App or other HTTP "
            "API client."
        )


class InvalidRequest(RobotServerError):
    """422 with one item per problem, each pointing at where it is (``source``)."""

    status_code = 422
    title = "Invalid Request"
    error_id = INVALID_REQUEST

    def __init__(self, problems: Sequence[tuple[str, Mapping[str, str] | None]]) -> None:
        super().__init__(problems[0][0] if problems else "invalid request")
        self.problems = list(problems)

    @classmethod
    def at(cls, detail: str, **source: str) -> InvalidRequest:
        return cls([(detail, source or None)])

    def items(self) -> list[dict[str, Any]]:
        items = []
        for detail, source in self.problems:
            item: dict[str, Any] = {
                "id": self.error_id,
                "status": str(self.status_code),
                "title": self.title,
                "detail": detail,
            }
            if source:
                item["source"] = dict(source)
            items.append(item)
        return items


def envelope(error: RobotServerError) -> dict[str, Any]:
    """The JSON body of an error answer."""
    body: dict[str, Any] = {"errors": error.items()}
    if error.links is not None:
        body["links"] = error.links
    return body
