"""The simulator's listening socket, in one place for both sides: the launcher (kernel side)
binds it before it starts the server, so the port is known at once and ``port=0`` works
without races, and the server binds it itself when run from the command line.

Standard library only: the kernel side imports this, and must never import the server
(fastapi, uvicorn, opentrons).
"""

from __future__ import annotations

import socket

__all__ = ["bind"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)
