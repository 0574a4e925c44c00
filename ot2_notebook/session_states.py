"""The protocol session state machine of OT-2 robot software 4.x, as plain data, and how the
runs of robot software 5+ map onto it.

One table, read by the simulated robot (to accept or refuse a command) and by the
client and widgets (to know which buttons make sense). It mirrors what the real
4.7 robot-server allows; see ``../shared/reference/robot-server-4`` scenario 05 and 12.
The second part (``RUN_STATUS_STATES``, ``RUNS_ALLOWED_COMMANDS``) shows a run of robot
software 5+ in the same states, with the commands such a run accepts
(``../shared/reference/robot-server-8`` scenario 03).
This module must stay free of imports beyond the standard library: the simulator
and the client share it and nothing else.
"""

from __future__ import annotations

from typing import Final

STOPPED: Final = "stopped"
LOADED: Final = "loaded"
RUNNING: Final = "running"
PAUSED: Final = "paused"
FINISHED: Final = "finished"
ERROR: Final = "error"

#: Every state a protocol session reports in ``details.currentState``.
STATES: Final[tuple[str, ...]] = (STOPPED, LOADED, RUNNING, PAUSED, FINISHED, ERROR)

START_RUN: Final = "protocol.startRun"
START_SIMULATE: Final = "protocol.startSimulate"
PAUSE: Final = "protocol.pause"
RESUME: Final = "protocol.resume"
CANCEL: Final = "protocol.cancel"

#: The commands a protocol session understands.
PROTOCOL_COMMANDS: Final[tuple[str, ...]] = (START_RUN, START_SIMULATE, CANCEL, PAUSE, RESUME)

#: Which command is allowed in which state. ``stopped`` is both "just created,
#: still loading" and "cancelled"; nothing is allowed in it, nor in ``error``.
ALLOWED_COMMANDS: Final[dict[str, frozenset[str]]] = {
    STOPPED: frozenset(),
    LOADED: frozenset({START_RUN, START_SIMULATE}),
    RUNNING: frozenset({PAUSE, CANCEL}),
    PAUSED: frozenset({RESUME, CANCEL}),
    FINISHED: frozenset({START_RUN, START_SIMULATE}),
    ERROR: frozenset(),
}

#: States a run leaves only through a new ``startRun`` (or never).
RUN_ENDED_STATES: Final[frozenset[str]] = frozenset({FINISHED, STOPPED, ERROR})

#: Commands of the robot's other (calibration) session types. They are valid
#: command names, so the robot answers 403 "not allowed in this state" for them in
#: a protocol session rather than 422 "unknown command" (recorded in scenario 05).
OTHER_SESSION_COMMANDS: Final[tuple[str, ...]] = (
    "calibration.moveToTipRack",
    "calibration.moveToPointOne",
    "calibration.moveToDeck",
    "calibration.moveToReferencePoint",
    "calibration.pickUpTip",
    "calibration.confirmTip",
    "calibration.invalidateTip",
    "calibration.saveOffset",
    "calibration.exitSession",
    "calibration.invalidateLastAction",
    "calibration.jog",
    "calibration.loadLabware",
    "calibration.setHasCalibrationBlock",
    "calibration.check.comparePoint",
    "calibration.check.goToNextCheck",
    "calibration.deck.moveToPointTwo",
    "calibration.deck.moveToPointThree",
    "calibration.moveToPointTwo",
    "calibration.moveToPointThree",
    "equipment.loadLabware",
    "equipment.loadPipette",
    "pipette.aspirate",
    "pipette.dispense",
    "pipette.pickUpTip",
    "pipette.dropTip",
)


def is_allowed(state: str, command: str) -> bool:
    """Whether ``command`` may be executed by a session in ``state``."""
    return command in ALLOWED_COMMANDS.get(state, frozenset())


def short_name(command: str) -> str:
    """``protocol.startRun`` -> ``startRun`` (for button labels and messages)."""
    return command.rsplit(".", 1)[-1]


# -- robot software 5+ (``/protocols`` + ``/runs``) ----------------------------------------
#
# A run of robot software 5+ is shown as a session in the states above; its own status stays
# visible beside it. A run is created ready (``idle``), runs once, and ends for good: unlike
# a 4.x session it cannot be started again once over.

#: The robot's run status -> the session state it is shown as.
RUN_STATUS_STATES: Final[dict[str, str]] = {
    "idle": LOADED,
    "running": RUNNING,
    "finishing": RUNNING,
    "paused": PAUSED,
    "blocked-by-open-door": PAUSED,
    "awaiting-recovery": PAUSED,
    "awaiting-recovery-paused": PAUSED,
    "awaiting-recovery-blocked-by-open-door": PAUSED,
    "stop-requested": STOPPED,
    "stopped": STOPPED,
    "succeeded": FINISHED,
    "failed": ERROR,
}

#: Which session command a run accepts in which state (the buttons a run panel enables).
RUNS_ALLOWED_COMMANDS: Final[dict[str, frozenset[str]]] = {
    STOPPED: frozenset(),
    LOADED: frozenset({START_RUN, CANCEL}),
    RUNNING: frozenset({PAUSE, CANCEL}),
    PAUSED: frozenset({RESUME, CANCEL}),
    FINISHED: frozenset(),
    ERROR: frozenset(),
}

#: The run action (``POST /runs/{id}/actions``) each session command sends.
RUN_ACTIONS: Final[dict[str, str]] = {
    START_RUN: "play",
    RESUME: "play",
    PAUSE: "pause",
    CANCEL: "stop",
}

#: Run statuses a run never leaves.
RUN_TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"stopped", "succeeded", "failed"})


def run_state(status: str) -> str:
    """The session state a robot software 5+ run status is shown as (an unknown status of a
    newer robot software: ``running`` if it sounds busy, else ``paused``)."""
    state = RUN_STATUS_STATES.get(status)
    if state is not None:
        return state
    return PAUSED if "await" in status or "block" in status or "pause" in status else RUNNING
