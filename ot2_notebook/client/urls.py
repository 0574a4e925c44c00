"""Robot addresses: what a user types (an IP address, a URL) as the base URL of the robot's
HTTP API, and the notification feed's websocket URL derived from it.

Standard library only, so that the HTTP client and the websocket feed share one rule
without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["DEFAULT_PORT", "DEFAULT_URL", "normalize_url", "notifications_url"]

#: The port of the robot's HTTP API (robot software 4.x and later).
DEFAULT_PORT: Final = 31950
DEFAULT_URL: Final = "http://127.0.0.1:31950"


def normalize_url(url: str) -> str:
    """``10.0.0.5`` -> ``http://10.0.0.5:31950``; a URL with a scheme is kept as given.

    Scientists type the robot's IP as the Opentrons App shows it; the HTTP API is always on
    port 31950, so a bare host gets that port.
    """
    text = url.strip()
    if not text:
        raise ValueError("The robot URL is empty: pass e.g. 'http://127.0.0.1:31950'.")
    if "://" not in text:
        host = text.rstrip("/")
        text = (
            f"http://{host}" if ":" in host.rsplit("]", 1)[-1] else f"http://{host}:{DEFAULT_PORT}"
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not a robot URL: pass e.g. 'http://127.0.0.1:31950' or the robot's IP."
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def notifications_url(base_url: str, topics: Iterable[str]) -> str:
    """The notification feed's websocket URL for the robot at ``base_url``
    (``ws://HOST:PORT/notifications/subscribe?topic=A&topic=B``)."""
    parts = urlsplit(normalize_url(base_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = "&".join(f"topic={quote(t, safe='')}" for t in topics)
    path = parts.path + "/notifications/subscribe"
    return urlunsplit((scheme, parts.netloc, path, query, ""))
