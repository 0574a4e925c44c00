"""Test helper: renames one opentrons internal in every Python process started with this folder
on ``PYTHONPATH`` (the simulator, its forkserver and workers), as a new opentrons release
might, so that ``tests/test_sim_internals.py`` can check the simulator refuses to start and
names what is missing (or, with ``run-orchestrator``, makes a run's set-up fail in the
worker). ``OT2_SIM_TEST_BREAK`` says which internal; without it, nothing happens.
"""

from __future__ import annotations

import os

_WHICH = os.environ.get("OT2_SIM_TEST_BREAK", "")

if _WHICH == "estimator-increments":
    from opentrons.protocols.duration import estimator

    _init = estimator.DurationEstimator.__init__

    def _renamed_increments(self: object) -> None:
        _init(self)
        self.__dict__["_entries"] = self.__dict__.pop("_increments")

    estimator.DurationEstimator.__init__ = _renamed_increments

elif _WHICH == "module-core":
    from opentrons.protocol_api import ModuleContext

    _module_init = ModuleContext.__init__

    def _renamed_core(self: object, *args: object, **kwargs: object) -> None:
        _module_init(self, *args, **kwargs)
        self.__dict__["_implementation"] = self.__dict__.pop("_core")

    ModuleContext.__init__ = _renamed_core

elif _WHICH == "run-orchestrator":
    # not a rename: a failure of the simulator's own worker code while it sets a run up
    # (outside the protocol), for tests/test_sim_v8_workers.py
    from opentrons.protocol_runner import RunOrchestrator

    def _broken_build(*args: object, **kwargs: object) -> object:
        raise RuntimeError("build_orchestrator broken by tests/support/break_opentrons")

    RunOrchestrator.build_orchestrator = staticmethod(_broken_build)  # type: ignore[method-assign,assignment]
