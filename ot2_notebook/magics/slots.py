"""A full robot: who holds its upload places, and freeing those this notebook may free.

A real OT-2 keeps one uploaded protocol (``ot2-sim --max-protocols N``); a notebook that
tries several protocols meets "Upload limit of 1 has been reached" at its second upload.
When that happens :func:`make_room` looks at what is in the way:

* a protocol this notebook uploaded (:class:`~ot2_notebook.magics.ledger.Ledger`) with no
  session of it running or paused is removed (its idle sessions first), oldest first, as
  many as the upload needs, and the upload is tried again; the cell says what was removed;
* anything else stays: a protocol someone else uploaded (another notebook, the Opentrons
  App, a script) is never touched, nor one whose run is in progress. The error then names
  each protocol in the way, why it stays, and what to do.

``OT2Magics.make_room = False`` keeps the strict behaviour: nothing is ever removed to make
room, and the error lists what could be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ot2_notebook import session_states as states
from ot2_notebook.client import (
    NotFoundError,
    Protocol,
    RobotClient,
    RobotError,
    Session,
    UploadLimitError,
)
from ot2_notebook.magics.errors import RobotRequestError
from ot2_notebook.magics.ledger import Ledger

__all__ = ["Occupant", "make_room", "occupants"]

_LIVE = (states.RUNNING, states.PAUSED)


@dataclass(frozen=True)
class Occupant:
    """A protocol holding one of the robot's upload places."""

    protocol: Protocol
    ours: bool
    sessions: tuple[Session, ...]

    @property
    def id(self) -> str:
        return self.protocol.id

    @property
    def live(self) -> Session | None:
        """A session of it whose run is in progress (running or paused)."""
        return next((s for s in self.sessions if s.state in _LIVE), None)

    @property
    def removable(self) -> bool:
        return self.ours and self.live is None

    def line(self, strict: bool, remembered: bool = True) -> str:
        """Why it is in the way and what to do, for the error (``remembered``: whether this
        notebook's uploads from before a kernel restart are known)."""
        name = repr(self.id)
        live = self.live
        if live is not None:
            whose = "uploaded by this notebook" if self.ours else "not uploaded by this notebook"
            return (
                f"  - {name} ({whose}): its run is {live.state} (session {live.id}); let it "
                "finish, or cancel it in its run panel, then run this cell again."
            )
        if not self.ours:
            origin = (
                "not uploaded by this notebook (another notebook, the Opentrons App or a script)"
                if remembered
                else "not uploaded by this kernel (another notebook, the Opentrons App, a "
                "script, or this notebook before a kernel restart: set %config "
                "OT2Magics.workspace = 'NAME' to keep uploads across restarts)"
            )
            return (
                f"  - {name}: {origin}, so it is never removed for you. If nobody needs it: "
                f"%ot2_cleanup --all, or ot2_notebook.current_robot().delete_protocol({name})."
            )
        if strict:
            return (
                f"  - {name}: uploaded by this notebook and not in use, kept because "
                "OT2Magics.make_room is off; %ot2_cleanup removes it (or %config "
                "OT2Magics.make_room = True to let uploads replace it)."
            )
        return f"  - {name}: uploaded by this notebook and not in use."


def occupants(robot: RobotClient, ledger: Ledger, uploading: str) -> list[Occupant]:
    """The protocols on the robot other than ``uploading``, oldest first."""
    protocols = [p for p in robot.protocols() if p.id != uploading]
    sessions = robot.sessions()
    found = [
        Occupant(
            protocol,
            ledger.owns_protocol(robot.base_url, protocol.id, protocol.data.raw),
            tuple(s for s in sessions if s.protocol_id == protocol.id),
        )
        for protocol in protocols
    ]
    return sorted(found, key=_age)


def _age(occupant: Occupant) -> tuple[int, str]:
    stamp = occupant.protocol.data.last_modified_at or occupant.protocol.data.created_at
    return (0, stamp.isoformat()) if stamp is not None else (1, occupant.id)


def _needed(error: UploadLimitError, count: int) -> int:
    """How many protocols must go for one more to fit."""
    limit = error.limit
    if limit is None:
        return 1
    return max(1, count - limit + 1)


def make_room(
    robot: RobotClient,
    ledger: Ledger,
    uploading: str,
    error: UploadLimitError,
    *,
    allowed: bool,
    doing: str,
    state: str,
) -> list[str]:
    """Free upload places for ``uploading`` after ``error``; returns the removed ids.

    Raises :class:`RobotRequestError` (its cause ``error``, whose hint now names what is in
    the way) when this notebook may not free enough; ``state`` says what the robot holds of
    the protocol being uploaded.
    """
    try:
        found = occupants(robot, ledger, uploading)
    except RobotError as exc:
        raise RobotRequestError(doing, error, state) from exc
    needed = _needed(error, len(found))
    removable = [o for o in found if o.removable]
    if not allowed or len(removable) < needed:
        _explain(error, found, strict=not allowed, needed=needed, remembered=ledger.persistent)
        raise RobotRequestError(doing, error, state) from error
    removed: list[str] = []
    for occupant in removable[:needed]:
        _remove(robot, ledger, occupant, doing, removed)
    return removed


def _remove(
    robot: RobotClient, ledger: Ledger, occupant: Occupant, doing: str, removed: list[str]
) -> None:
    url = robot.base_url
    try:
        for session in occupant.sessions:
            try:
                robot.delete_session(session.id)
            except NotFoundError:
                pass
            ledger.forget_session(url, session.id)
        try:
            robot.delete_protocol(occupant.id)
        except NotFoundError:
            pass
    except RobotError as exc:
        done = f"removed {', '.join(map(repr, removed))} before this" if removed else ""
        raise RobotRequestError(
            doing,
            exc,
            f"Making room failed while removing {occupant.id!r}{'; ' + done if done else ''}. "
            "Nothing was uploaded.",
        ) from exc
    ledger.forget_protocol(url, occupant.id)
    removed.append(occupant.id)


def _explain(
    error: UploadLimitError,
    found: Sequence[Occupant],
    *,
    strict: bool,
    needed: int,
    remembered: bool,
) -> None:
    limit = error.limit
    keeps = (
        f"The robot keeps at most {limit} protocol{'s' if limit != 1 else ''}"
        if limit
        else "The robot keeps a limited number of protocols"
    )
    room = "one place" if needed == 1 else f"{needed} places"
    lines = [f"{keeps}; this upload needs {room} freed. In the way:"]
    lines += [o.line(strict, remembered) for o in found] or [
        "  (nothing listed: try the upload again)"
    ]
    error.hint = "\n".join(lines)
