"""``ot2-sim --speed X`` for software-8 runs: simulated motion takes robot time / X.

On simulated hardware a move takes no time (robot-server 8.1.0 on simulated hardware runs a
transfer in a few milliseconds) while waits (``ctx.delay``, JSON ``waitForDuration``) really
wait. With a speed, each move of the simulated gantry or plunger first sleeps for its
estimated duration (the longest axis travel at the move's speed, bounded by the axis' maximum
speed), homing sleeps for a typical homing time, and waits are shortened by the same factor,
so a paced run behaves like a robot running X times faster. Pause and stop act between
commands (pause) or at once (stop cancels the command's sleep), as on a robot.

Only this worker's own objects are touched: the run's hardware simulator instance, and the
wait of opentrons' ``RunControlHandler`` in this (single-run) worker process.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: mm/s per axis when the move names no speed (the OT-2's defaults, rounded)
_DEFAULT_AXIS_SPEEDS = {"X": 600.0, "Y": 400.0, "Z": 125.0, "A": 125.0, "B": 40.0, "C": 40.0}
#: seconds a full home of the OT-2 takes
_HOME_SECONDS = 6.0


def move_seconds(
    start: dict[str, float],
    target: dict[str, float],
    speed: float | None,
    axis_max_speeds: dict[str, float] | None = None,
) -> float:
    """Estimated duration of one move from ``start`` to ``target`` (positions in mm)."""
    longest = 0.0
    for axis, position in target.items():
        distance = abs(float(position) - float(start.get(axis, position)))
        if distance == 0:
            continue
        limit = (axis_max_speeds or {}).get(axis) or _DEFAULT_AXIS_SPEEDS.get(axis[:1], 100.0)
        axis_speed = min(speed, limit) if speed else limit
        longest = max(longest, distance / max(axis_speed, 1e-3))
    return longest


def pace(hardware: Any, speed: float) -> None:
    """Make ``hardware``'s simulated moves and homing take robot time / ``speed``."""
    backend = hardware._backend  # the hardware API's Simulator backend, built for this run
    original_move = backend.move
    original_home = backend.home

    async def paced_move(
        target_position: dict[str, float],
        home_flagged_axes: bool = True,
        speed: float | None = None,
        axis_max_speeds: dict[str, float] | None = None,
    ) -> None:
        seconds = move_seconds(
            dict(backend._position), dict(target_position), speed, axis_max_speeds
        )
        if seconds > 0:
            await asyncio.sleep(seconds / factor)
        await original_move(target_position, home_flagged_axes, speed, axis_max_speeds)

    async def paced_home(axes: list[str] | None = None) -> Any:
        share = len(axes) / 6 if axes else 1.0
        await asyncio.sleep(_HOME_SECONDS * share / factor)
        return await original_home(axes)

    factor = float(speed)
    backend.move = paced_move
    backend.home = paced_home
    _pace_waits(factor)


def _pace_waits(factor: float) -> None:
    from opentrons.protocol_engine.execution.run_control import RunControlHandler

    original = RunControlHandler.wait_for_duration

    async def wait_for_duration(self: Any, seconds: float) -> None:
        await original(self, seconds / factor)

    RunControlHandler.wait_for_duration = wait_for_duration  # type: ignore[method-assign,unused-ignore]  # checked without opentrons installed
