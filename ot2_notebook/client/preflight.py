"""Pre-flight: does the robot have the pipettes and modules a protocol needs?

A robot checks its instruments only when a run loads them: a protocol asking for a pipette
the robot lacks passes upload and load, then its run ends in ``error`` at that line (robot
software 4.x does not even say why). The client checks first: it compares the protocol's
required equipment (its analysis) with what the robot reports attached (``GET /pipettes``,
``GET /modules``, on every 4.x robot) by the robot's own rules
(:mod:`ot2_notebook.hardware`: a GEN2 pipette serves its GEN1 name, temperature module GEN1
and GEN2 serve each other), so that a mismatch is an error naming the mount, what is wanted
and what is attached, before anything moves.

Plain data and pure functions: :class:`~ot2_notebook.client.http.Session` runs the check
before ``startRun``, the equipment panel shows it per pipette and module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ot2_notebook.client.models import AttachedEquipment, AttachedModule, Equipment
from ot2_notebook.hardware import (
    MODULE_MODELS,
    module_accepts,
    module_type_of,
    pipette_accepts,
    pipette_name_of,
)

__all__ = ["MISSING", "OK", "WRONG", "EquipmentCheck", "PreflightReport", "check_equipment"]

OK: Final = "ok"
MISSING: Final = "missing"
WRONG: Final = "wrong"
Status = Literal["ok", "missing", "wrong"]


def _module_display(model: str) -> str:
    entry = MODULE_MODELS.get(model)
    return f"{entry[1]} ({model})" if entry else model


@dataclass(frozen=True)
class EquipmentCheck:
    """One pipette or module the protocol needs, and what the robot has for it.

    ``where`` is the mount (``left``/``right``) or ``slot N``; ``wanted`` the pipette name or
    module model the protocol asks for; ``attached`` the pipette model (or name) on that
    mount, or the attached module serving it (a module of the same type that does not, for
    ``wrong``), ``None`` when there is none; ``status`` is ``ok``, ``missing`` or ``wrong``.
    """

    kind: Literal["pipette", "module"]
    where: str
    wanted: str
    attached: str | None
    status: Status
    #: ``missing`` because every attached module that would serve it serves another one.
    in_use: bool = False

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def mount(self) -> str | None:
        return self.where if self.kind == "pipette" else None

    def describe(self) -> str:
        """``right mount: the protocol asks for p300_single_gen2, but p300_single_v1 is
        attached`` (and the like for modules; ``...: p300_single_v2.1 serves it`` when ok)."""
        if self.kind == "pipette":
            where = f"{self.where} mount"
            wanted = self.wanted
        else:
            where = self.where
            wanted = _module_display(self.wanted)
        if self.status == OK:
            return f"{where}: {wanted}: {self.attached} serves it"
        if self.status == MISSING:
            nothing = "nothing is attached" if self.kind == "pipette" else "none is attached"
            if self.in_use:
                nothing = "every attached one already serves another module of the protocol"
            return f"{where}: the protocol asks for {wanted}, but {nothing}"
        if self.kind == "pipette":
            return f"{where}: the protocol asks for {wanted}, but {self.attached} is attached"
        return (
            f"{where}: the protocol asks for {wanted}, but the robot has {self.attached}, "
            "which does not serve it"
        )


@dataclass(frozen=True)
class PreflightReport:
    """The check of every pipette and module a protocol needs against what is attached."""

    protocol_id: str
    checks: tuple[EquipmentCheck, ...]
    attached: AttachedEquipment

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> tuple[EquipmentCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)

    @property
    def pipettes(self) -> tuple[EquipmentCheck, ...]:
        return tuple(check for check in self.checks if check.kind == "pipette")

    @property
    def modules(self) -> tuple[EquipmentCheck, ...]:
        return tuple(check for check in self.checks if check.kind == "module")

    def for_mount(self, mount: str) -> EquipmentCheck | None:
        return next((c for c in self.pipettes if c.where == mount), None)

    def text(self) -> str:
        """One line per check: ``ok      right mount: ...``."""
        return "\n".join(f"{check.status:<8}{check.describe()}" for check in self.checks)


def _pipette_identity(model: str | None, name: str | None) -> str | None:
    """What to judge an attached pipette by: its model when this package knows it, else the
    name the robot reports (a model newer than these tables)."""
    if model and pipette_name_of(model) is not None:
        return model
    return name or model


def check_equipment(
    protocol_id: str, equipment: Equipment, attached: AttachedEquipment
) -> PreflightReport:
    """Check each pipette (by mount) and module (in slot order) ``equipment`` needs."""
    checks: list[EquipmentCheck] = []
    for pipette in sorted(equipment.pipettes, key=lambda p: p.mount):
        wanted = pipette.requested_as or pipette.pipette_name
        present = attached.pipette_on(pipette.mount)
        identity = _pipette_identity(present.model, present.name)
        shown = present.model or present.name
        if identity is None:
            status: Status = MISSING
        elif pipette_accepts(identity, wanted):
            status = OK
        else:
            status = WRONG
        checks.append(EquipmentCheck("pipette", pipette.mount, wanted, shown, status))
    free: list[AttachedModule] = list(attached.modules)
    for module in sorted(equipment.modules, key=lambda m: (m.slot is None, m.slot or 0)):
        where = f"slot {module.slot}" if module.slot is not None else "a slot"
        serving = next((m for m in free if module_accepts(m.model, module.model)), None)
        if serving is not None:
            free.remove(serving)
            checks.append(EquipmentCheck("module", where, module.model, serving.model, OK))
            continue
        kind = module_type_of(module.model) or module.type
        same_type = [m.model for m in attached.modules if module_type_of(m.model) == kind]
        if any(module_accepts(m.model, module.model) for m in attached.modules):
            checks.append(EquipmentCheck("module", where, module.model, None, MISSING, in_use=True))
        elif same_type:
            checks.append(
                EquipmentCheck("module", where, module.model, ", ".join(same_type), WRONG)
            )
        else:
            checks.append(EquipmentCheck("module", where, module.model, None, MISSING))
    return PreflightReport(protocol_id, tuple(checks), attached)
