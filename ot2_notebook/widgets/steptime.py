"""How long the current step takes, read from its text: delays, incubations, module waits and
the protocol's own pauses.

During most of a run the steps are short (an aspirate takes a second) and only the time left
for the whole run matters. Some steps are long, and then the question is "how long is this
one": a ``ctx.delay(minutes=5)``, a thermocycler hold or profile, a module heating up, or a
``ctx.pause()`` that waits for the scientist. Robots tell which step is running only by its
text (the same texts on robot software 4.x and in opentrons 8's simulation), so that is what
:func:`step_timing` reads:

* ``Delaying for 5 minutes and 0.0 seconds`` (``. message`` may follow): a delay of 300 s;
* ``Setting Thermocycler well block temperature to 95.0 °C with a hold time of 30 seconds``
  (or ``1.0 minutes and 0 seconds``): a hold of 30 s, once the block is at temperature;
* ``Thermocycler starting 30 repetitions of cycle composed of the following steps: [...]``:
  the holds of every step times the repetitions (robot software 4.7 leaves ``{steps}``
  unformatted: then only the repetitions are known);
* ``Waiting for Temperature Module to reach temperature 4.0 °C ...``, ``Setting Temperature
  Module temperature to ...`` (which waits too), ``Setting Thermocycler lid temperature to
  ...``, ``Waiting for Thermocycler ...``: a module wait, of unknown length;
* ``Pausing robot operation: check the plate``: the protocol waits for the user.

Plain Python, no widgets: :class:`~ot2_notebook.widgets.run.RunPanel` shows the result.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = ["DELAY", "HOLD", "MODULE", "PAUSE", "PROFILE", "StepTiming", "step_timing"]

DELAY = "delay"
HOLD = "hold"
PROFILE = "profile"
MODULE = "module"
PAUSE = "pause"

_DELAY = re.compile(r"^Delaying for (\d+(?:\.\d+)?) minutes and (\d+(?:\.\d+)?) seconds")
_HOLD = re.compile(
    r"^Setting Thermocycler well block temperature to (-?[\d.]+) °C with a hold time of "
    r"(?:(\d+(?:\.\d+)?) minutes and )?(\d+(?:\.\d+)?) seconds"
)
_PROFILE = re.compile(
    r"^Thermocycler starting (\d+) repetitions of cycle composed of the following steps: (.*)$",
    re.S,
)
_PAUSE = re.compile(r"^Pausing robot operation(?::\s*(.*))?$", re.S)
_MODULE_WAITS = (
    (
        re.compile(r"^Waiting for Temperature Module to reach temperature (-?[\d.]+) °C"),
        "the Temperature Module to reach {0} °C",
    ),
    (
        re.compile(r"^Setting Temperature Module temperature to (-?[\d.]+) °C"),
        "the Temperature Module to reach {0} °C",
    ),
    (
        re.compile(r"^Setting Thermocycler lid temperature to (-?[\d.]+) °C"),
        "the Thermocycler lid to reach {0} °C",
    ),
    (
        re.compile(r"^Setting Thermocycler well block temperature to (-?[\d.]+) °C$"),
        "the Thermocycler block to reach {0} °C",
    ),
    (
        re.compile(r"^Waiting for (Thermocycler lid) to reach target temperature"),
        "the {0} to reach its temperature",
    ),
    (
        re.compile(r"^Waiting for (Thermocycler) to reach target"),
        "the {0} to reach its temperature",
    ),
    (re.compile(r"^Waiting for (Heater-Shaker) to reach"), "the {0} to reach its temperature"),
)


@dataclass(frozen=True)
class StepTiming:
    """What a long step is: ``kind`` (:data:`DELAY`, :data:`HOLD`, :data:`PROFILE`,
    :data:`MODULE`, :data:`PAUSE`), ``seconds`` of robot time it lasts when the text says
    (``None`` for module waits and pauses), and ``what`` (a short description: "delay of
    5 min", "the Temperature Module to reach 4.0 °C", the pause's message)."""

    kind: str
    seconds: float | None
    what: str


def _profile_seconds(repetitions: int, steps_text: str) -> float | None:
    """The holds of a profile's steps times the repetitions (``None`` if unreadable)."""
    try:
        steps = ast.literal_eval(steps_text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(steps, (list, tuple)) or not steps:
        return None
    total = 0.0
    for step in steps:
        if not isinstance(step, dict):
            return None
        seconds = step.get("hold_time_seconds") or 0
        minutes = step.get("hold_time_minutes") or 0
        if not isinstance(seconds, (int, float)) or not isinstance(minutes, (int, float)):
            return None
        total += float(seconds) + 60.0 * float(minutes)
    return total * repetitions


def step_timing(text: str | None) -> StepTiming | None:
    """The timing a step's text tells, or ``None`` for an ordinary (short) step."""
    if not text:
        return None
    text = text.strip()
    match = _DELAY.match(text)
    if match:
        seconds = 60.0 * float(match.group(1)) + float(match.group(2))
        return StepTiming(DELAY, seconds, "delay")
    match = _HOLD.match(text)
    if match:
        minutes = float(match.group(2) or 0)
        hold = 60.0 * minutes + float(match.group(3))
        return StepTiming(HOLD, hold, f"hold at {match.group(1)} °C")
    match = _PROFILE.match(text)
    if match:
        repetitions = int(match.group(1))
        what = f"thermocycler profile, {repetitions} repetition{'s' if repetitions != 1 else ''}"
        return StepTiming(PROFILE, _profile_seconds(repetitions, match.group(2)), what)
    match = _PAUSE.match(text)
    if match:
        return StepTiming(PAUSE, None, (match.group(1) or "").strip())
    for pattern, template in _MODULE_WAITS:
        match = pattern.match(text)
        if match:
            return StepTiming(MODULE, None, "waiting for " + template.format(*match.groups()))
    return None
