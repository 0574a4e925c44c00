"""Ids and timestamps as robot-server 8 makes them: UUID4s, and timezone-aware UTC ISO 8601
(``2026-12-01T21:35:54.526829+00:00``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()
