"""A run of robot software 5+ as the protocol session a 4.x robot describes.

Robot software 5+ describes a run in ``GET /runs/{id}`` (status, actions, errors, the
protocol's id) and its commands in ``GET /runs/{id}/commands``. :func:`session_json` joins
them into the JSON of a 4.x protocol session that :class:`~ot2_notebook.client.SessionData`
reads, so the run panel, the deck view, the watcher and ``Session.wait_for`` see one shape:

* ``details.currentState`` is the run's status as a session state
  (:func:`ot2_notebook.session_states.run_state`: ``idle`` -> ``loaded``, ``succeeded`` ->
  ``finished``, ``failed`` -> ``error``, ``stop-requested`` -> ``stopped`` ...), and
  ``details.robotStatus`` the robot's own status;
* ``details.events`` are, as on 4.x, the steps of the load-time simulation first (here: the
  protocol's analysis), then the session commands (the run's actions: the first ``play`` is
  ``protocol.startRun``, later ones ``protocol.resume``, ``pause`` is ``protocol.pause``,
  ``stop`` is ``protocol.cancel``) among the run's own steps, in time order
  (:mod:`ot2_notebook.client.commands_v8`);
* ``details.errors`` are the run's errors placed in the bundle's files and lines.

Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ot2_notebook import session_states as states
from ot2_notebook.client.commands_v8 import Deck, step_events
from ot2_notebook.client.errors_v8 import error_info
from ot2_notebook.client.models import parse_timestamp
from ot2_notebook.client.packing import BundleKey
from ot2_notebook.client.protocols_v8 import error_json

__all__ = ["action_events", "merge_events", "session_json"]

_ACTION_COMMANDS = {
    "pause": states.PAUSE,
    "stop": states.CANCEL,
    "resume-from-recovery": states.RESUME,
}


def action_events(actions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A run's actions as the session command events of a 4.x session."""
    events: list[dict[str, Any]] = []
    played = False
    for action in actions:
        kind = str(action.get("actionType") or "")
        if kind == "play":
            command = states.RESUME if played else states.START_RUN
            played = True
        else:
            command = _ACTION_COMMANDS.get(kind, kind)
        events.append(
            {
                "source": "sessionCommand",
                "event": command,
                "commandId": str(action.get("id") or ""),
                "timestamp": action.get("createdAt"),
                "params": None,
                "result": None,
            }
        )
    return events


def merge_events(
    actions: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Session command events among step events, in time order (an action goes before the
    steps that happened after it; the orders within each list are kept)."""
    merged: list[dict[str, Any]] = []
    position = 0
    for action in actions:
        at = parse_timestamp(action.get("timestamp"))
        while position < len(steps):
            when = parse_timestamp(steps[position].get("timestamp"))
            if at is not None and when is not None and when >= at:
                break
            if at is None:
                break
            merged.append(steps[position])
            position += 1
        merged.append(action)
    merged.extend(steps[position:])
    return merged


def session_json(
    run: Mapping[str, Any],
    *,
    name: str,
    main_file: str,
    key: BundleKey | None,
    commands: Sequence[Mapping[str, Any]] | None,
    load_events: Sequence[dict[str, Any]] = (),
    display_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A run as a 4.x protocol session's JSON (see the module doc). ``commands`` ``None``:
    a summary without events (for lists of runs)."""
    status = str(run.get("status") or "")
    events: list[dict[str, Any]] = []
    if commands is not None:
        actions = action_events([a for a in run.get("actions") or [] if isinstance(a, Mapping)])
        steps = step_events(commands, Deck.of(run, display_names))
        events = [*load_events, *merge_events(actions, steps)]
    errors = [
        error_json(error_info(e, main_file, key))
        for e in run.get("errors") or []
        if isinstance(e, Mapping)
    ]
    return {
        "id": run.get("id"),
        "sessionType": "protocol",
        "createParams": {"protocolId": name},
        "createdAt": run.get("createdAt"),
        "details": {
            "protocolId": name,
            "currentState": states.run_state(status),
            "robotStatus": status,
            "protocolRobotId": run.get("protocolId"),
            "events": events,
            "errors": errors,
        },
        "robot": {"run": dict(run)},
    }
