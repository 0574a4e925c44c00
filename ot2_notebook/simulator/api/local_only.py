"""Only this machine's own programs and pages may use the simulated robot (Host, Origin check).

``ot2-sim`` runs every uploaded protocol's Python on this machine, with the user's rights.
Binding to loopback keeps other machines out, but a web page open in the user's browser can
still reach a loopback port:

* by DNS rebinding: a page at ``evil.example`` whose name is re-pointed at 127.0.0.1 talks
  to the simulator as its own origin; its requests carry ``Host: evil.example:PORT``;
* by cross-site requests and websockets to ``http://127.0.0.1:PORT``; browsers mark them
  with the page's ``Origin``.

So a request is served only if its ``Host`` names this machine (``localhost``, an address in
127.0.0.0/8 or ``::1``, the address the simulator was explicitly bound to, or a name allowed
with ``--allow-host``; any port) and, when it carries an ``Origin`` (browsers do, programs
usually do not), that origin's host is one of the same: a page of this machine, on any port.
Anything else is refused with 403 in the robot's error envelope before any of the request is
read, on HTTP and on the websocket handshake alike. This is what Jupyter Server does for the
same reason (its local host names check).

Starlette's ``TrustedHostMiddleware`` was the first choice and does not fit: it matches exact
names and ``*.suffix`` patterns only (no 127.0.0.0/8), answers a plain-text 400 rather than the
robot's envelope, checks no ``Origin``, and the releases installed beside opentrons 8.0 split
the header at its first ``:`` (``[::1]:31950`` becomes ``[``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ot2_notebook.simulator.config import is_loopback_host as is_loopback
from ot2_notebook.simulator.errors import (
    HostNotAllowed,
    OriginNotAllowed,
    RobotServerError,
    envelope,
)

#: ``--allow-host '*'``: any Host (for a robot on a network of its own); Origin checks stay.
ANY_HOST = "*"
#: Addresses that mean "every interface": no client names the machine by them on purpose.
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def canonical_host(host: str) -> str:
    """A host name or address as compared here: lower case, no brackets or trailing dot,
    addresses in their one standard spelling (``0:0::1`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host[:-1] if host.endswith(".") else host


def host_of_header(value: str) -> str | None:
    """The host of a ``Host`` header value (``[::1]:8080`` -> ``::1``), or ``None`` if it is
    not a valid one (empty, a bad port, an unbracketed IPv6 address)."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
    else:
        host, colon, port = value.partition(":")
        if colon and not port.isdigit():
            return None
    host = canonical_host(host)
    return host or None


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts a request may name: loopback always, plus ``names`` (canonical)."""

    names: frozenset[str] = frozenset()

    @classmethod
    def build(cls, bound_host: str, allowed: Iterable[str] = ()) -> HostPolicy:
        """Loopback, the address the server was bound to (unless a wildcard such as
        ``0.0.0.0``), and every ``allowed`` name or address (``*``: any host)."""
        names = {canonical_host(name) for name in allowed if name.strip()}
        bound = canonical_host(bound_host)
        if bound not in _WILDCARDS:
            names.add(bound)
        return cls(frozenset(names))

    @property
    def any_host(self) -> bool:
        return ANY_HOST in self.names

    def allows(self, host: str) -> bool:
        return self.any_host or host in self.names or is_loopback(host)

    def allows_origin(self, origin: str) -> bool:
        """A page of this machine (or of an allowed name), on any port and scheme."""
        try:
            parts = urlsplit(origin.strip())
            hostname = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not hostname:
            return False  # "null" (sandboxed frames, files), extensions, other schemes
        host = canonical_host(hostname)
        return host in self.names or is_loopback(host)

    def shown(self) -> str:
        """The names served, for messages: loopback first, then the bound and allowed ones."""
        extra = sorted(name for name in self.names - {ANY_HOST} if not is_loopback(name))
        return ", ".join(["localhost", "127.0.0.1", "[::1]", *extra])


class LocalOnly:
    """Pure ASGI middleware refusing foreign ``Host`` and ``Origin`` headers (module docstring).

    Pure ASGI (not ``BaseHTTPMiddleware``) so that it sees the websocket handshake too and
    answers before the application reads anything.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy, error_code: str | None = None) -> None:
        self.app = app
        self.policy = policy
        #: Robot software 5+ gives every error item an ``errorCode`` ("4000": a general one).
        self.error_code = error_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(Headers(scope=scope))
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _refuse_http(_body(refusal, self.error_code), refusal, send)
        else:
            await _refuse_websocket(_body(refusal, self.error_code), refusal, scope, send)

    def refusal(self, headers: Headers) -> RobotServerError | None:
        """Why a request with these headers is refused, or ``None`` if it is served."""
        raw_hosts = headers.getlist("host")
        policy = self.policy
        if not raw_hosts:
            return HostNotAllowed(
                "The request has no Host header; send one naming this machine (e.g. "
                "Host: 127.0.0.1:31950), as every HTTP/1.1 client does."
            )
        if len(raw_hosts) > 1:
            return HostNotAllowed(
                f"The request carries {len(raw_hosts)} Host headers; send exactly one, naming "
                "this machine (e.g. Host: 127.0.0.1:31950)."
            )
        host = host_of_header(raw_hosts[0])
        if host is None or not policy.allows(host):
            return HostNotAllowed(
                f"The request's Host header {raw_hosts[0]!r} does not name this machine "
                f"({policy.shown()}). The simulated robot runs uploaded code on this machine, "
                "so it answers only this machine's own programs and pages. To reach it under "
                f"this name on purpose, start it with --allow-host {host or 'NAME'} (Python: "
                "start(allow_hosts=[...]))."
            )
        # checked even with --allow-host '*': web pages of other sites must not drive it
        for origin in headers.getlist("origin"):
            if not policy.allows_origin(origin):
                return OriginNotAllowed(
                    f"The request comes from a web page at {origin!r} (its Origin header), not "
                    "from this machine. The simulated robot runs uploaded code on this machine, "
                    "so web pages of other sites may not use it; programs (which send no Origin) "
                    "and pages served by this machine may. If that page is yours, start the "
                    f"simulator with --allow-host {_origin_host(origin) or 'NAME'}."
                )
        return None


def _origin_host(origin: str) -> str | None:
    try:
        return urlsplit(origin.strip()).hostname
    except ValueError:
        return None


def _body(error: RobotServerError, error_code: str | None) -> bytes:
    body = envelope(error)
    if error_code is not None:
        for item in body["errors"]:
            item.setdefault("errorCode", error_code)
    return json.dumps(body).encode()


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]


async def _refuse_http(body: bytes, error: RobotServerError, send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": error.status_code, "headers": _headers(body)}
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(body: bytes, error: RobotServerError, scope: Scope, send: Send) -> None:
    """Refuse the handshake: with an HTTP answer in the envelope where the server supports
    it (the ASGI websocket denial response), else by closing (the client sees a 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": _headers(body),
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": error.title})
