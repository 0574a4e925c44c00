"""One robot's HTTP connection: send a request, return its JSON body or raise a RobotError.

The transport knows no endpoint. It holds the pooled :class:`requests.Session`, the API
version header every request carries, the timeouts (connecting is bounded by
``min(timeout, 5)`` so a wrong IP fails fast), and turns every failure into a
:class:`~ot2_notebook.client.errors.RobotError`: no connection, no answer in time, an error
status (its envelope parsed), a body that is not JSON. The robot software 4.x endpoints are
mapped in :mod:`ot2_notebook.client.http`; another robot API would share this transport.

A pooled connection can be closed by the server at the moment it is reused: a server closes
an idle keep-alive connection after a few seconds (uvicorn's default is 5 s, the same as the
watcher's poll with a live feed), and a request sent as the close crosses it gets "connection
dropped" without having been read. Reads (``GET``, ``HEAD``) are sent once more on a fresh
connection; nothing else is: a repeated ``POST`` could start a second session or run a
command twice on a robot, and a read that timed out is not asked again of a robot that may be
stuck (SPEC section 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry  # allowed_methods: urllib3 1.26 and 2.x alike

from ot2_notebook.client.errors import (
    RobotTimeoutError,
    RobotUnreachableError,
    UnexpectedResponseError,
    error_from_response,
)
from ot2_notebook.client.files import Part

if TYPE_CHECKING:  # annotations only: BaseHTTPResponse is urllib3 2's, and a lab may have 1.26
    from types import TracebackType

    from urllib3 import BaseHTTPResponse
    from urllib3.connectionpool import ConnectionPool

__all__ = ["Transport", "connection_reason"]


class Transport:
    """HTTP to the robot at ``base_url`` (already normalised), ``headers`` on every request.

    ``timeout`` bounds each request (seconds to wait for an answer) and may be changed.
    """

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str]) -> None:
        self.base_url = base_url
        self.timeout = float(timeout)
        self.http = requests.Session()
        self.http.headers.update(headers)
        adapter = HTTPAdapter(max_retries=_ReadsOnceMoreWhenDropped())
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)

    @property
    def headers(self) -> Mapping[str, str | bytes]:
        """The headers sent with every request."""
        return self.http.headers

    def url_for(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        """Close the pooled connections (the transport can still be used afterwards)."""
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Sequence[Part] | None = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON body; raise :class:`RobotError`.

        ``data``: form fields sent beside ``files`` (multipart); ``timeout`` (s) replaces the
        transport's for this request only."""
        url = self.url_for(path)
        described = f"{method} {url}"
        wait = self.timeout if timeout is None else float(timeout)
        try:
            response = self.http.request(
                method,
                url,
                json=json,
                files=files,
                params=params,
                data=data,
                timeout=(min(wait, 5.0), wait),
            )
        except requests.Timeout as exc:
            if isinstance(exc, requests.ConnectTimeout):
                raise RobotUnreachableError(
                    self.base_url, "the connection timed out", described
                ) from exc
            raise RobotTimeoutError(self.base_url, wait, described) from exc
        except requests.ConnectionError as exc:
            raise RobotUnreachableError(self.base_url, connection_reason(exc), described) from exc
        except requests.RequestException as exc:
            raise RobotUnreachableError(self.base_url, str(exc), described) from exc
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code, response.content, reason=response.reason, request=described
            )
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponseError.for_body(
                response.status_code, described, response.text
            ) from exc


class _ReadsOnceMoreWhenDropped(Retry):
    """urllib3's retry policy for one more try of a read whose connection dropped.

    Only ``GET`` and ``HEAD``, only when the connection was dropped (urllib3's "read" errors
    also count a read timeout, which is not retried: it raises at once), never on an answer.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("total", 1)
        kwargs.setdefault("connect", 0)
        kwargs.setdefault("read", 1)
        kwargs.setdefault("status", 0)
        kwargs.setdefault("other", 0)
        kwargs.setdefault("allowed_methods", frozenset({"GET", "HEAD"}))
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("respect_retry_after_header", False)
        super().__init__(**kwargs)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> _ReadsOnceMoreWhenDropped:
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def connection_reason(exc: requests.ConnectionError) -> str:
    """Why a connection failed, in a few plain words."""
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
