"""Messages between the server and a worker process, as plain picklable tuples and dicts.

Server -> worker: one job dict (see ``job``), then ``PAUSE``/``RESUME`` strings during a run.
Worker -> server: ``("step", ...)``, ``("wait", seconds)``, ``("paused", ...)``,
``("resumed",)`` during a run, and finally ``("result", {...})``.
"""

from __future__ import annotations

from typing import Any

ANALYSE = "analyse"
SIMULATE = "simulate"
RUN = "run"
PROBE = "probe"
MODES = (ANALYSE, SIMULATE, RUN, PROBE)

PAUSE = "pause"
RESUME = "resume"

STEP = "step"
WAIT = "wait"
PAUSED = "paused"
RESUMED = "resumed"
RESULT = "result"


def job(
    mode: str,
    directory: str,
    protocol_file: str,
    speed: float | None = None,
    max_api_level: tuple[int, int] | None = None,
) -> dict[str, Any]:
    if mode not in MODES:
        raise ValueError(f"unknown job mode {mode!r}")
    return {
        "mode": mode,
        "directory": directory,
        "protocolFile": protocol_file,
        "speed": speed,
        "maxApiLevel": max_api_level,
    }


def step_start(index: int, name: str, text: str, depth: int) -> tuple[Any, ...]:
    """A protocol step began: ``index`` counts starts from 1 over every nesting level."""
    return (STEP, "start", index, name, text, depth, _now())


def step_end(index: int, name: str) -> tuple[Any, ...]:
    """The step numbered ``index`` ended."""
    return (STEP, "end", index, name, None, None, _now())


def waiting(seconds: float) -> tuple[Any, ...]:
    """The worker paces a step for ``seconds`` (keeps the server's watchdog quiet)."""
    return (WAIT, seconds)


def paused(reason: str, message: str | None) -> tuple[Any, ...]:
    """The run is paused: ``reason`` is ``"command"`` or ``"protocol"`` (``ctx.pause()``)."""
    return (PAUSED, reason, message)


def resumed() -> tuple[Any, ...]:
    return (RESUMED,)


def result(**fields: Any) -> tuple[Any, ...]:
    return (RESULT, fields)


def _now() -> float:
    import time

    return time.time()
