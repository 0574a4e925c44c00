"""Which attached pipette or module serves what a protocol asks for: the OT-2's rules, as data.

A protocol asks for a pipette by name on a mount (``p300_single_gen2`` on ``right``) and for
modules by model (``magneticModuleV2``); a robot has pipette *models* on its mounts
(``p300_single_v2.1``) and modules of some model plugged in. Robot software 4.x accepts a
request when the attached pipette's name, or one of its model's back-compatibility names, is
the one requested (a protocol asking for ``p300_single`` runs on a P300 GEN2; one asking for
``p300_single_gen2`` does not run on a GEN1), and a module when its model is the requested
one or declared compatible with it (temperature module GEN1 and GEN2 serve each other;
magnetic module GEN1 and GEN2 do not). The tables are those of robot software 4.7's
shared data (``pipetteModelSpecs``, module definitions' ``compatibleWith``).

The simulated robot (when a run loads an instrument or a module) and the client (its
pre-flight check before a run) apply these same functions, so both say the same thing.
Standard library only: every layer imports it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MODULE_MODELS",
    "MOUNTS",
    "PIPETTE_NAMES",
    "accepted_pipette_names",
    "default_pipette_model",
    "module_accepts",
    "module_type_of",
    "pipette_accepts",
    "pipette_name_of",
]

MOUNTS: Final = ("left", "right")

#: OT-2 pipette names: channels and display name.
PIPETTE_NAMES: Final[dict[str, tuple[int, str]]] = {
    "p10_single": (1, "P10 Single-Channel GEN1"),
    "p10_multi": (8, "P10 8-Channel GEN1"),
    "p50_single": (1, "P50 Single-Channel GEN1"),
    "p50_multi": (8, "P50 8-Channel GEN1"),
    "p300_single": (1, "P300 Single-Channel GEN1"),
    "p300_multi": (8, "P300 8-Channel GEN1"),
    "p1000_single": (1, "P1000 Single-Channel GEN1"),
    "p20_single_gen2": (1, "P20 Single-Channel GEN2"),
    "p20_multi_gen2": (8, "P20 8-Channel GEN2"),
    "p300_single_gen2": (1, "P300 Single-Channel GEN2"),
    "p300_multi_gen2": (8, "P300 8-Channel GEN2"),
    "p1000_single_gen2": (1, "P1000 Single-Channel GEN2"),
}

#: What a GEN2 pipette also answers to (robot software 4.7's ``backCompatNames``).
_BACK_COMPAT: Final[dict[str, tuple[str, ...]]] = {
    "p20_single_gen2": ("p10_single",),
    "p20_multi_gen2": ("p10_multi",),
    "p300_single_gen2": ("p300_single",),
    "p300_multi_gen2": ("p300_multi",),
    "p1000_single_gen2": ("p1000_single",),
}

#: The model versions robot software 4.7 knows, by name.
_MODEL_VERSIONS: Final[dict[str, tuple[str, ...]]] = {
    "p10_single": ("1", "1.3", "1.4", "1.5"),
    "p10_multi": ("1", "1.3", "1.4", "1.5", "1.6"),
    "p50_single": ("1", "1.3", "1.4", "1.5"),
    "p50_multi": ("1", "1.3", "1.4", "1.5"),
    "p300_single": ("1", "1.3", "1.4", "1.5"),
    "p300_multi": ("1", "1.3", "1.4", "1.5"),
    "p1000_single": ("1", "1.3", "1.4", "1.5"),
    "p20_single_gen2": ("2.0", "2.1", "2.2"),
    "p20_multi_gen2": ("2.0", "2.1"),
    "p300_single_gen2": ("2.0", "2.1"),
    "p300_multi_gen2": ("2.0", "2.1"),
    "p1000_single_gen2": ("2.0", "2.1", "2.2"),
}

_MODEL = re.compile(r"^(p\d+_(?:single|multi))_v(\d+(?:\.\d+)?)$")

#: OT-2 module models: module type, display name, and the models each also serves.
MODULE_MODELS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "magneticModuleV1": ("magneticModuleType", "Magnetic Module GEN1", ()),
    "magneticModuleV2": ("magneticModuleType", "Magnetic Module GEN2", ()),
    "temperatureModuleV1": (
        "temperatureModuleType",
        "Temperature Module GEN1",
        ("temperatureModuleV2",),
    ),
    "temperatureModuleV2": (
        "temperatureModuleType",
        "Temperature Module GEN2",
        ("temperatureModuleV1",),
    ),
    "thermocyclerModuleV1": ("thermocyclerModuleType", "Thermocycler Module GEN1", ()),
    "thermocyclerModuleV2": ("thermocyclerModuleType", "Thermocycler Module GEN2", ()),
}


def pipette_name_of(model: str) -> str | None:
    """``p300_single_v2.1`` -> ``p300_single_gen2``; a name is its own name; ``None`` if
    ``model`` is neither a known OT-2 pipette model nor a name."""
    if model in PIPETTE_NAMES:
        return model
    match = _MODEL.match(model)
    if match is None:
        return None
    base, version = match.groups()
    name = base + "_gen2" if float(version) >= 2 else base
    if name not in PIPETTE_NAMES or version not in _MODEL_VERSIONS[name]:
        return None
    return name


def default_pipette_model(name: str) -> str:
    """The model a robot reports for a pipette of this name (the newest 4.7 knows);
    a model is returned as it is. ``ValueError`` for what is neither."""
    if pipette_name_of(name) is not None and name not in PIPETTE_NAMES:
        return name
    if name not in PIPETTE_NAMES:
        known = ", ".join(PIPETTE_NAMES)
        raise ValueError(f"{name!r} is not an OT-2 pipette name or model; names: {known}")
    base = name.removesuffix("_gen2")
    return f"{base}_v{_MODEL_VERSIONS[name][-1]}"


def accepted_pipette_names(attached: str) -> tuple[str, ...]:
    """The names a protocol may ask for to use the attached pipette (a model or a name):
    its own name, then its back-compatibility names."""
    name = pipette_name_of(attached)
    if name is None:
        return (attached,)
    return (name, *_BACK_COMPAT.get(name, ()))


def pipette_accepts(attached: str | None, requested: str) -> bool:
    """Whether the pipette ``attached`` on a mount (a model or name; ``None``: nothing
    there) serves a protocol asking for ``requested`` on that mount."""
    return attached is not None and requested in accepted_pipette_names(attached)


def module_type_of(model: str) -> str | None:
    """``magneticModuleV2`` -> ``magneticModuleType`` (``None`` for an unknown model)."""
    entry = MODULE_MODELS.get(model)
    return entry[0] if entry else None


def module_accepts(attached: str, requested: str) -> bool:
    """Whether an attached module of model ``attached`` serves a request for ``requested``."""
    if attached == requested:
        return True
    entry = MODULE_MODELS.get(attached)
    return entry is not None and requested in entry[2]
