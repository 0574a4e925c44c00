"""The simulated robot's attached hardware: pipettes on its mounts and modules plugged in.

A robot has instruments; a protocol that asks for others fails when its run loads them
(``ot2_notebook.hardware`` has the rules). The hardware comes from a preset, a small JSON
file, or options (``--hardware``, ``--left``, ``--right``, ``--module``), and is served on
``GET /pipettes`` and ``GET /modules`` in robot software 4.7's shapes (software 8 mode:
``GET /pipettes``, ``GET /instruments`` and ``GET /modules`` in 8.1.0's). Standard library
only: the workers receive it with each run.

The file is either this simulator's own small format::

    {"pipettes": {"left": "p20_single_gen2", "right": "p300_single_v2.1"},
     "modules": ["temperatureModuleV2", "magneticModuleV2"]}

(a pipette is a name or a model, or ``{"model": ..., "id": SERIAL}``; ``null`` for an empty
mount), or the hardware-simulator file of robot-server 4.x
(``robot-server/simulators/test.json``: ``attached_instruments`` and ``attached_modules``),
so one file can describe the same robot to both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ot2_notebook.hardware import (
    MODULE_MODELS,
    MOUNTS,
    PIPETTE_NAMES,
    default_pipette_model,
    pipette_name_of,
)

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "AttachedHardware",
    "AttachedModule",
    "AttachedPipette",
    "HardwareError",
    "hardware_from_options",
    "load_hardware_file",
]


class HardwareError(ValueError):
    """A hardware description that names no OT-2 pipette or module (says which, and what is)."""


@dataclass(frozen=True)
class AttachedPipette:
    """A pipette on a mount: its model (``p300_single_v2.1``) and serial number."""

    model: str
    serial: str

    @property
    def name(self) -> str:
        name = pipette_name_of(self.model)
        assert name is not None, self.model  # checked when built
        return name


@dataclass(frozen=True)
class AttachedModule:
    """A module plugged in: its model (``magneticModuleV2``) and serial number."""

    model: str
    serial: str


@dataclass(frozen=True)
class AttachedHardware:
    """What the robot has: a pipette (or nothing) per mount, and its modules."""

    left: AttachedPipette | None = None
    right: AttachedPipette | None = None
    modules: tuple[AttachedModule, ...] = ()

    def pipette_on(self, mount: str) -> AttachedPipette | None:
        return self.left if mount == "left" else self.right if mount == "right" else None

    def describe(self) -> str:
        """One line for logs and ``--help``: ``left p20_single_v2.2, right ... ; modules ...``."""
        mounts = ", ".join(
            f"{mount} {pipette.model if pipette else 'empty'}"
            for mount in MOUNTS
            for pipette in [self.pipette_on(mount)]
        )
        modules = ", ".join(m.model for m in self.modules) or "none"
        return f"{mounts}; modules: {modules}"

    # -- GET /pipettes and GET /modules, as robot software 4.7 answers ----------------------

    def pipettes_json(self) -> dict[str, dict[str, Any]]:
        axes = {"left": ("z", "b"), "right": ("a", "c")}
        answer: dict[str, dict[str, Any]] = {}
        for mount in MOUNTS:
            pipette = self.pipette_on(mount)
            mount_axis, plunger_axis = axes[mount]
            answer[mount] = {
                "model": pipette.model if pipette else None,
                "name": pipette.name if pipette else None,
                "tip_length": 0.0 if pipette else None,
                "mount_axis": mount_axis,
                "plunger_axis": plunger_axis,
                "id": pipette.serial if pipette else None,
            }
        return answer

    def modules_json(self) -> list[dict[str, Any]]:
        answer = []
        for index, module in enumerate(self.modules):
            kind, revision, status, data = _MODULE_LOOK[module.model]
            answer.append(
                {
                    "name": kind,
                    "displayName": kind,
                    "moduleModel": module.model,
                    "port": f"/dev/ot_module_sim_{kind}{index}",
                    "usbPort": {"hub": None, "port": None},
                    "serial": module.serial,
                    "model": revision,
                    "revision": revision,
                    "fwVersion": "ot2-sim",
                    "hasAvailableUpdate": False,
                    "status": status,
                    "data": dict(data),
                }
            )
        return answer

    # -- GET /instruments and GET /modules, as robot software 8 answers (software-8 mode) ------

    def instruments_json_v8(self) -> list[dict[str, Any]]:
        answer = []
        for mount in MOUNTS:
            pipette = self.pipette_on(mount)
            if pipette is None:
                continue
            channels = PIPETTE_NAMES[pipette.name][0]
            low, high = _VOLUMES[pipette.name]
            answer.append(
                {
                    "mount": mount,
                    "instrumentType": "pipette",
                    "instrumentModel": pipette.model,
                    "serialNumber": pipette.serial,
                    "ok": True,
                    "data": {"channels": channels, "min_volume": low, "max_volume": high},
                    "instrumentName": pipette.name,
                }
            )
        return answer

    def modules_json_v8(self) -> list[dict[str, Any]]:
        answer = []
        for index, module in enumerate(self.modules):
            kind, revision, _status, _data = _MODULE_LOOK[module.model]
            answer.append(
                {
                    "id": hashlib.sha256(module.serial.encode()).hexdigest()[:40],
                    "serialNumber": module.serial,
                    "firmwareVersion": "ot2-sim",
                    "hardwareRevision": revision,
                    "hasAvailableUpdate": False,
                    "moduleType": MODULE_MODELS[module.model][0],
                    "moduleModel": module.model,
                    "compatibleWithRobot": True,
                    "data": dict(_MODULE_DATA_V8[kind]),
                    "usbPort": {
                        "port": index + 1,
                        "portGroup": "unknown",
                        "hub": False,
                        "hubPort": None,
                        "path": f"/dev/ot_module_sim_{kind}{index}",
                    },
                }
            )
        return answer


#: The volume range of each pipette (µL), for software 8's ``GET /instruments``.
_VOLUMES: dict[str, tuple[float, float]] = {
    "p10_single": (1.0, 10.0),
    "p10_multi": (1.0, 10.0),
    "p50_single": (5.0, 50.0),
    "p50_multi": (5.0, 50.0),
    "p300_single": (30.0, 300.0),
    "p300_multi": (30.0, 300.0),
    "p1000_single": (100.0, 1000.0),
    "p20_single_gen2": (1.0, 20.0),
    "p20_multi_gen2": (1.0, 20.0),
    "p300_single_gen2": (20.0, 300.0),
    "p300_multi_gen2": (20.0, 300.0),
    "p1000_single_gen2": (100.0, 1000.0),
}

#: An idle module's live data, as robot software 8 shapes it.
_MODULE_DATA_V8: dict[str, Mapping[str, Any]] = {
    "magdeck": {"status": "disengaged", "engaged": False, "height": 0.0},
    "tempdeck": {"status": "idle", "currentTemperature": 23.0, "targetTemperature": None},
    "thermocycler": {
        "status": "idle",
        "currentTemperature": 23.0,
        "targetTemperature": None,
        "lidStatus": "open",
        "lidTemperatureStatus": "idle",
        "lidTemperature": 23.0,
        "lidTargetTemperature": None,
        "holdTime": None,
        "rampRate": None,
        "currentCycleIndex": None,
        "totalCycleCount": None,
        "currentStepIndex": None,
        "totalStepCount": None,
    },
}

_TC_IDLE = {
    "lid": "open",
    "lidTarget": None,
    "lidTemp": 23.0,
    "currentTemp": 23.0,
    "targetTemp": None,
    "holdTime": None,
    "rampRate": None,
    "currentCycleIndex": None,
    "totalCycleCount": None,
    "currentStepIndex": None,
    "totalStepCount": None,
}

#: model -> (legacy name, revision, idle status, idle live data), as robot software 4.7 shows.
_MODULE_LOOK: dict[str, tuple[str, str, str, Mapping[str, Any]]] = {
    "magneticModuleV1": (
        "magdeck",
        "mag_deck_v1.1",
        "disengaged",
        {"engaged": False, "height": 0.0},
    ),
    "magneticModuleV2": (
        "magdeck",
        "mag_deck_v20",
        "disengaged",
        {"engaged": False, "height": 0.0},
    ),
    "temperatureModuleV1": (
        "tempdeck",
        "temp_deck_v1.1",
        "idle",
        {"currentTemp": 23.0, "targetTemp": None},
    ),
    "temperatureModuleV2": (
        "tempdeck",
        "temp_deck_v20",
        "idle",
        {"currentTemp": 23.0, "targetTemp": None},
    ),
    "thermocyclerModuleV1": ("thermocycler", "thermocycler_v10", "idle", _TC_IDLE),
    "thermocyclerModuleV2": ("thermocycler", "thermocycler_v20", "idle", _TC_IDLE),
}
assert set(_MODULE_LOOK) == set(MODULE_MODELS)

#: robot-server 4.x's hardware-simulator module names, and the model it simulates for each.
_LEGACY_MODULES = {
    "magdeck": "magneticModuleV1",
    "tempdeck": "temperatureModuleV1",
    "thermocycler": "thermocyclerModuleV1",
}


def _pipette(value: Any, mount: str, where: str) -> AttachedPipette | None:
    """A pipette from a name, a model, or ``{"model"|"name": ..., "id": ...}``."""
    if value is None or value == "" or (isinstance(value, str) and value.lower() == "none"):
        return None
    serial = None
    if isinstance(value, Mapping):
        serial = value.get("id") or value.get("serial")
        value = value.get("model") or value.get("name")
        if value is None:
            return None
    if not isinstance(value, str) or pipette_name_of(value) is None:
        raise HardwareError(
            f"{where}: {value!r} is not an OT-2 pipette for the {mount} mount. Give a name "
            f"({', '.join(PIPETTE_NAMES)}), a model such as p300_single_v2.1, or none."
        )
    model = default_pipette_model(value)
    return AttachedPipette(model, str(serial) if serial else _serial(model, mount))


def _module(value: Any, where: str) -> AttachedModule:
    model = value.get("model") if isinstance(value, Mapping) else value
    if model not in MODULE_MODELS:
        raise HardwareError(
            f"{where}: {model!r} is not an OT-2 module model; one of {', '.join(MODULE_MODELS)}."
        )
    serial = value.get("serial") if isinstance(value, Mapping) else None
    return AttachedModule(str(model), str(serial) if serial else "")


def _serial(model: str, mount: str) -> str:
    """A made-up serial number, stable for a model on a mount (``P300S21-R``)."""
    base = model.replace("_single_v", "S").replace("_multi_v", "M").replace(".", "")
    return f"{base.upper()}-SIM-{mount[0].upper()}"


def _numbered(modules: Sequence[AttachedModule]) -> tuple[AttachedModule, ...]:
    """Give each module without a serial one of its own (``MDV2-SIM-1`` ...)."""
    numbered = []
    for index, module in enumerate(modules, start=1):
        if module.serial:
            numbered.append(module)
            continue
        kind = _MODULE_LOOK[module.model][0]
        short = {"magdeck": "MD", "tempdeck": "TD", "thermocycler": "TC"}[kind]
        version = module.model.rsplit("V", 1)[-1]
        numbered.append(replace(module, serial=f"{short}V{version}-SIM-{index}"))
    return tuple(numbered)


def hardware_from_json(data: Any, where: str = "hardware") -> AttachedHardware:
    """The hardware a JSON document describes (either format of the module doc)."""
    if not isinstance(data, Mapping):
        raise HardwareError(f"{where}: expected a JSON object with 'pipettes' and 'modules'.")
    if "attached_instruments" in data or "attached_modules" in data:  # robot-server 4.x's file
        instruments = data.get("attached_instruments") or {}
        modules = [
            AttachedModule(_LEGACY_MODULES[name], "")
            for name in (data.get("attached_modules") or {})
            if name in _LEGACY_MODULES
        ]
    else:
        unknown = set(data) - {"pipettes", "modules"}
        if unknown:
            raise HardwareError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                "expected 'pipettes' (by mount) and 'modules' (a list of models)."
            )
        instruments = data.get("pipettes") or {}
        modules = [_module(m, where) for m in data.get("modules") or []]
    if not isinstance(instruments, Mapping) or set(instruments) - set(MOUNTS):
        raise HardwareError(f"{where}: pipettes are given by mount: {{'left': ..., 'right': ...}}.")
    return AttachedHardware(
        left=_pipette(instruments.get("left"), "left", where),
        right=_pipette(instruments.get("right"), "right", where),
        modules=_numbered(modules),
    )


def load_hardware_file(path: str | Path) -> AttachedHardware:
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HardwareError(f"cannot read hardware file {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise HardwareError(f"hardware file {path} is not valid JSON: {exc}") from exc
    return hardware_from_json(data, str(path))


#: The tutorials' robot (the default): a P20 and a P300 GEN2, a temperature and a magnetic
#: module GEN2 and a thermocycler.
TUTORIAL = hardware_from_json(
    {
        "pipettes": {"left": "p20_single_gen2", "right": "p300_single_gen2"},
        "modules": ["temperatureModuleV2", "magneticModuleV2", "thermocyclerModuleV1"],
    }
)

PRESETS: dict[str, tuple[AttachedHardware, str]] = {
    "tutorial": (TUTORIAL, "the tutorials' robot (default)"),
    "recorded": (
        hardware_from_json(
            {
                "pipettes": {
                    "left": {"model": "p10_single_v1", "id": "123"},
                    "right": {"model": "p300_single_v1", "id": "321"},
                },
                "modules": ["thermocyclerModuleV1", "temperatureModuleV1", "magneticModuleV1"],
            }
        ),
        "the robot-server 4.7 recordings' simulated robot (robot-server/simulators/test.json)",
    ),
    "empty": (AttachedHardware(), "nothing attached"),
}
DEFAULT_PRESET = "tutorial"


def hardware_from_options(
    spec: str | None = None,
    *,
    left: str | None = None,
    right: str | None = None,
    modules: Sequence[str] | None = None,
) -> AttachedHardware:
    """The hardware for ``--hardware SPEC`` (a preset name or a JSON file; default
    ``tutorial``), then ``--left``/``--right`` (a name, a model, or ``none``) and ``--module``
    (the modules, replacing the preset's; ``none`` for none)."""
    spec = spec or DEFAULT_PRESET
    if spec in PRESETS:
        hardware = PRESETS[spec][0]
    elif spec.endswith(".json") or Path(spec).expanduser().is_file():
        hardware = load_hardware_file(spec)
    else:
        raise HardwareError(
            f"--hardware {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file."
        )
    if left is not None:
        hardware = replace(hardware, left=_pipette(left, "left", "--left"))
    if right is not None:
        hardware = replace(hardware, right=_pipette(right, "right", "--right"))
    if modules is not None:
        chosen = [m for m in modules if m.lower() != "none"]
        hardware = replace(hardware, modules=_numbered([_module(m, "--module") for m in chosen]))
    return hardware
