"""Small, targeted shims for bugs in ``opentrons`` 8.x that the simulated robot must not inherit.

Each shim names the bug it works around and is applied once, in the worker process,
before any protocol runs (``apply_all``). The server process never imports opentrons.
"""

from __future__ import annotations

import enum
import sys

#: Python 3.11+ formats mixed-in enums as "Class.MEMBER" (a plain flag rather than a
#: ``sys.version_info`` test, so that the type checker checks the shim on every version).
_ENUM_FORMAT_IS_STR = sys.version_info >= (3, 11)


def restore_module_model_format() -> bool:
    """Make module-model enums format as their value again on Python 3.11+.

    Bug: opentrons 8.x builds module-definition paths with an f-string,
    ``Path(f"module/definitions/{version}/{model_or_loadname}.json")``
    (``opentrons_shared_data/module/__init__.py``, ``load_definition``), and the legacy
    (API level <= 2.13) protocol core passes the enum member itself, e.g.
    ``MagneticModuleModel.MAGNETIC_V2``. Python 3.11 changed ``Enum.__format__`` for
    mixed-in ``(str, Enum)`` classes to use ``Enum.__str__`` ("ClassName.MEMBER")
    instead of the value (bpo-44559 / gh-100458; "Changed Enum.__format__() ..." in the
    3.11 changelog), so the path becomes ``.../MagneticModuleModel.MAGNETIC_V2.json`` and
    loading fails with ``NoSuchModuleError: Could not find a module with model
    "MagneticModuleModel.MAGNETIC_V2"``. On 3.10 the value was used and it works.

    The shim restores the 3.10 behaviour for exactly these enums (every ``ModuleModel``
    class), which is what the opentrons code was written for. Returns whether anything
    was patched.
    """
    if not _ENUM_FORMAT_IS_STR:
        return False
    from opentrons.hardware_control.modules import types as module_types

    patched = False
    for value in vars(module_types).values():
        if (
            isinstance(value, type)
            and issubclass(value, enum.Enum)
            and issubclass(value, str)
            and value.__name__.endswith("Model")
        ):
            value.__format__ = _format_by_value  # type: ignore[method-assign]
            patched = True
    return patched


def _format_by_value(self: enum.Enum, format_spec: str) -> str:
    return format(self.value, format_spec)


def apply_all() -> None:
    restore_module_model_format()
