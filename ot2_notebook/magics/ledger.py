"""What this notebook put on each robot, kept across kernel restarts: the ownership record.

The magics remove things from a robot in two cases only: ``%ot2_cleanup`` (what this
notebook made) and making room for an upload when the robot is full (protocols this notebook
uploaded that nothing is using). Both ask the :class:`Ledger`.

What "this notebook made" means:

* A protocol is this notebook's when the robot holds it under the id this notebook uploaded
  it with **and** with the same ``createdAt`` the robot gave that upload. The pair names one
  upload: if someone else deletes it and uploads their own protocol under the same name, or
  the robot restarts, the ``createdAt`` differs and it is not ours any more.
* A session is this notebook's when this notebook created it (session ids are unique).
* The record belongs to the *workspace*, not to one kernel process: a kernel restart (or
  a second kernel of the same notebook) keeps it, so re-running the notebook after a restart
  still replaces and cleans up its own protocols. The workspace is the notebook's path,
  which Jupyter gives every kernel it starts for a notebook (``JPY_SESSION_NAME``; VS Code:
  ``__vsc_ipynb_file__``), or the name set with ``%config OT2Magics.workspace``. Another
  notebook is another workspace: it never removes this one's protocols, nor this one its.
* Without a workspace (terminal IPython, a script, nbclient/papermill runs), the record lasts
  as long as the kernel and nothing is written to disk.

The record lives on this computer, not on the robot (nothing is added to an upload, so a
real robot holds exactly what the user wrote): one small JSON file per workspace under
``$OT2_NOTEBOOK_STATE_DIR`` (default ``$XDG_STATE_HOME/ot2_notebook``, i.e.
``~/.local/state/ot2_notebook``), rewritten atomically on every change. A file that cannot
be read or written costs only the restart memory (logged), never an upload.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Ledger", "OwnedProtocol", "state_dir", "workspace_from_environment"]

log = logging.getLogger("ot2_notebook.magics")

_FORMAT = 1


def state_dir() -> Path:
    """Where workspace records are kept (``$OT2_NOTEBOOK_STATE_DIR`` or the XDG state dir)."""
    explicit = os.environ.get("OT2_NOTEBOOK_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "ot2_notebook"


def workspace_from_environment(user_ns: Mapping[str, Any] | None = None) -> str:
    """The notebook this kernel serves, as Jupyter or VS Code tell it; ``""`` if unknown."""
    name = os.environ.get("JPY_SESSION_NAME", "")
    if not name and user_ns is not None:
        name = str(user_ns.get("__vsc_ipynb_file__") or "")
    return name


@dataclass(frozen=True)
class OwnedProtocol:
    """One upload this workspace made: the id, the robot's ``createdAt`` for it (as the
    robot wrote it), and the fingerprint of what was sent (to know, after a restart, whether
    the notebook's bundle is still what the robot holds)."""

    protocol_id: str
    created_at: str
    fingerprint: str = ""

    def to_json(self) -> dict[str, str]:
        return {"createdAt": self.created_at, "fingerprint": self.fingerprint}


@dataclass
class _RobotRecord:
    protocols: dict[str, OwnedProtocol] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocols": {pid: p.to_json() for pid, p in self.protocols.items()},
            "sessions": list(self.sessions),
        }

    @classmethod
    def from_json(cls, data: Any) -> _RobotRecord:
        record = cls()
        if not isinstance(data, Mapping):
            return record
        protocols = data.get("protocols")
        if isinstance(protocols, Mapping):
            for pid, item in protocols.items():
                if isinstance(item, Mapping) and isinstance(item.get("createdAt"), str):
                    record.protocols[str(pid)] = OwnedProtocol(
                        str(pid), item["createdAt"], str(item.get("fingerprint") or "")
                    )
        sessions = data.get("sessions")
        if isinstance(sessions, list):
            record.sessions = [str(s) for s in sessions if isinstance(s, str)]
        return record


def created_stamp(raw: Mapping[str, Any]) -> str:
    """The ``createdAt`` of a protocol resource as the robot sent it (``""`` if none)."""
    value = raw.get("createdAt")
    return value if isinstance(value, str) else ""


class Ledger:
    """The protocols and sessions one workspace made on each robot (see the module doc).

    ``workspace`` empty: kept in memory only. Robots are keyed by their base URL.
    """

    def __init__(self, workspace: str = "", directory: Path | None = None) -> None:
        self.workspace = workspace
        self.path: Path | None = None
        self._robots: dict[str, _RobotRecord] = {}
        if workspace:
            digest = hashlib.sha256(workspace.encode("utf-8")).hexdigest()[:20]
            self.path = (directory or state_dir()) / "workspaces" / f"{digest}.json"
            self._load()

    @property
    def persistent(self) -> bool:
        """Whether the record outlives this kernel."""
        return self.path is not None

    # -- reading -----------------------------------------------------------------------------

    def _record(self, url: str) -> _RobotRecord:
        return self._robots.setdefault(url, _RobotRecord())

    def owned_protocol(self, url: str, protocol_id: str, created_at: str) -> OwnedProtocol | None:
        """The record of upload ``protocol_id`` if the robot's copy (``created_at``) is ours."""
        record = self._robots.get(url)
        owned = record.protocols.get(protocol_id) if record else None
        if owned is None or not created_at or owned.created_at != created_at:
            return None
        return owned

    def owns_protocol(self, url: str, protocol_id: str, raw: Mapping[str, Any]) -> bool:
        """Whether the protocol resource ``raw`` (as the robot describes it) is ours."""
        return self.owned_protocol(url, protocol_id, created_stamp(raw)) is not None

    def owns_session(self, url: str, session_id: str) -> bool:
        record = self._robots.get(url)
        return record is not None and session_id in record.sessions

    def protocol_ids(self, url: str) -> list[str]:
        record = self._robots.get(url)
        return list(record.protocols) if record else []

    def session_ids(self, url: str) -> list[str]:
        record = self._robots.get(url)
        return list(record.sessions) if record else []

    def __bool__(self) -> bool:
        return any(r.protocols or r.sessions for r in self._robots.values())

    # -- writing -----------------------------------------------------------------------------

    def add_protocol(self, url: str, protocol_id: str, created_at: str, fingerprint: str) -> None:
        self._record(url).protocols[protocol_id] = OwnedProtocol(
            protocol_id, created_at, fingerprint
        )
        self._save()

    def add_session(self, url: str, session_id: str) -> None:
        record = self._record(url)
        if session_id not in record.sessions:
            record.sessions.append(session_id)
            self._save()

    def forget_protocol(self, url: str, protocol_id: str) -> None:
        record = self._robots.get(url)
        if record is not None and record.protocols.pop(protocol_id, None) is not None:
            self._save()

    def forget_session(self, url: str, session_id: str) -> None:
        record = self._robots.get(url)
        if record is not None and session_id in record.sessions:
            record.sessions.remove(session_id)
            self._save()

    def forget_robot(self, url: str) -> None:
        if self._robots.pop(url, None) is not None:
            self._save()

    def absorb(self, other: Ledger) -> None:
        """Take over ``other``'s records (when the workspace changes mid-session)."""
        for url, record in other._robots.items():
            mine = self._record(url)
            mine.protocols.update(record.protocols)
            mine.sessions += [s for s in record.sessions if s not in mine.sessions]
        self._save()

    def prune(
        self, url: str, protocols: Iterable[tuple[str, str]], session_ids: Iterable[str]
    ) -> None:
        """Drop records of what the robot no longer holds: ``protocols`` are the
        ``(id, createdAt)`` pairs on it now, ``session_ids`` its sessions."""
        record = self._robots.get(url)
        if record is None:
            return
        present = dict(protocols)
        sessions = set(session_ids)
        kept = {
            pid: owned
            for pid, owned in record.protocols.items()
            if present.get(pid) == owned.created_at
        }
        kept_sessions = [s for s in record.sessions if s in sessions]
        if kept != record.protocols or kept_sessions != record.sessions:
            record.protocols = kept
            record.sessions = kept_sessions
            self._save()

    # -- the file ------------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ownership record %s unreadable (%s): starting afresh", self.path, exc)
            return
        robots = data.get("robots") if isinstance(data, Mapping) else None
        if isinstance(robots, Mapping):
            self._robots = {str(url): _RobotRecord.from_json(r) for url, r in robots.items()}

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "format": _FORMAT,
            "workspace": self.workspace,
            "robots": {
                url: r.to_json() for url, r in self._robots.items() if r.protocols or r.sessions
            },
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("could not write the ownership record %s: %s", self.path, exc)
