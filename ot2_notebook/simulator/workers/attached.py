"""A run's check of the robot's attached hardware, where robot software 4.x makes it.

On a robot, a run's ``ctx.load_instrument`` asks the hardware for the pipette on that mount
and fails with a ``RuntimeError`` when another one, or none, is there; ``ctx.load_module``
fails when no attached module of a compatible model is free ("Could not find specified
module"). Analysis and a session's load simulate without hardware, so they pass; only the
run fails, at that line, in state ``error``. This module gives a run's protocol context the
same two checks (``ot2_notebook.hardware`` has the rules), so a protocol that the simulated
robot runs also finds its instruments on a robot with the same hardware.

The failures carry what was wanted and what is attached, for the session's
``details.errors`` (``mount``, ``wanted``, ``attached``, ``location``).
"""

from __future__ import annotations

import functools
from typing import Any

from ot2_notebook.hardware import MODULE_MODELS, module_accepts, module_type_of, pipette_accepts
from ot2_notebook.simulator.hardware import AttachedHardware, AttachedModule
from ot2_notebook.simulator.workers import internals

__all__ = ["HardwareMismatchError", "check_attached_hardware"]

_HOW_TO = (
    "Attach what the protocol needs (ot2-sim --left/--right NAME, --module MODEL or "
    "--hardware FILE), or change the protocol to use what is attached (GET /pipettes, "
    "GET /modules)."
)


class HardwareMismatchError(RuntimeError):
    """The protocol asked for a pipette or module the robot does not have."""

    def __init__(
        self,
        message: str,
        *,
        wanted: str,
        attached: str | None,
        mount: str | None = None,
        location: int | None = None,
    ) -> None:
        super().__init__(message)
        self.wanted = wanted
        self.attached = attached
        self.mount = mount
        self.location = location

    def details(self) -> dict[str, Any]:
        """What the session's error entry carries besides type and description."""
        entry: dict[str, Any] = {"wanted": self.wanted, "attached": self.attached}
        if self.mount is not None:
            entry["mount"] = self.mount
        if self.location is not None:
            entry["location"] = self.location
        return entry


def _pipette_error(mount: str, requested: str, hardware: AttachedHardware) -> HardwareMismatchError:
    pipette = hardware.pipette_on(mount)
    present = f"{pipette.model} is attached" if pipette else "no instrument is attached"
    return HardwareMismatchError(
        f"mount {mount.upper()}: instrument {requested} was requested, but {present}. {_HOW_TO}",
        wanted=requested,
        attached=pipette.model if pipette else None,
        mount=mount,
    )


def _slot_of(ctx: Any, module: Any) -> int | None:
    """The deck slot ``module`` was loaded in (``ctx.loaded_modules`` is keyed by slot at every
    API level; ``module.parent`` exists only from 2.14)."""
    for slot, loaded in ctx.loaded_modules.items():
        if loaded is module:
            try:
                return int(slot)
            except (TypeError, ValueError):
                return None
    return None


def check_attached_hardware(ctx: Any, hardware: AttachedHardware) -> None:
    """Make ``ctx.load_instrument`` and ``ctx.load_module`` of this run check ``hardware``.

    The protocol's own calls go to the context's attributes, so wrapping them on this one
    context changes nothing else (analysis and load simulation use other contexts).
    """
    load_instrument = ctx.load_instrument
    load_module = ctx.load_module
    taken: list[AttachedModule] = []

    @functools.wraps(load_instrument)
    def checked_instrument(*args: Any, **kwargs: Any) -> Any:
        instrument = load_instrument(*args, **kwargs)
        mount = str(instrument.mount).lower().split(".")[-1]
        requested = str(instrument.requested_as)
        pipette = hardware.pipette_on(mount)
        if not pipette_accepts(pipette.model if pipette else None, requested):
            raise _pipette_error(mount, requested, hardware)
        return instrument

    @functools.wraps(load_module)
    def checked_module(*args: Any, **kwargs: Any) -> Any:
        module = load_module(*args, **kwargs)
        _kind, model = internals.module_type_and_model(module)
        for attached in hardware.modules:
            if attached not in taken and module_accepts(attached.model, model):
                taken.append(attached)
                return module
        requested = args[0] if args else kwargs.get("module_name", model)
        display = MODULE_MODELS.get(model, ("", model, ()))[1]
        family = display.rsplit(" ", 1)[0] if " GEN" in display else display
        same_type = [m.model for m in hardware.modules if module_type_of(m.model) == _kind]
        if any(module_accepts(m.model, model) for m in hardware.modules):
            present = f"every attached {family} that serves it is already in use"
        elif same_type:
            present = f"the robot has {', '.join(same_type)}, which does not serve it"
        else:
            present = f"no {family} is attached"
        raise HardwareMismatchError(
            f"Could not find specified module: {requested} ({model}): {present}. {_HOW_TO}",
            wanted=model,
            attached=same_type[0] if same_type else None,
            location=_slot_of(ctx, module),
        )

    ctx.load_instrument = checked_instrument
    ctx.load_module = checked_module
