"""The simulated OT-2 robot (``ot2-sim``): the robot software 4.x HTTP API and notification
feed, backed by the real ``opentrons`` OT-2 simulation.

``start()`` runs it as a child process for notebooks and tests; ``ot2-sim`` (or
``python -m ot2_notebook.simulator``) runs it in the foreground. The server runs from an
environment of its own (opentrons 8 pins numpy<2 and jsonschema<4.18, which a current
Jupyter cannot use): ``find_simulator()`` says which one ``start()`` would use and why,
``setup_simulator()`` sets one up in the user's cache folder now (``ot2-sim setup``).
Importing this package is cheap: the server and its dependencies load only in the child
process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ot2_notebook.simulator.environment import (
        SimulatorChoice,
        SimulatorError,
        SimulatorSetupError,
    )
    from ot2_notebook.simulator.launcher import SimulatorHandle

__all__ = [
    "SimulatorChoice",
    "SimulatorError",
    "SimulatorHandle",
    "SimulatorSetupError",
    "find_simulator",
    "setup_simulator",
    "start",
]


def start(
    port: int = 0,
    *,
    python: str | None = None,
    command: str | Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> SimulatorHandle:
    """Start a simulated robot in a child process on 127.0.0.1 and wait until it answers.

    ``port=0`` picks a free port. Which simulator runs: ``python`` (an interpreter whose
    environment has ``ot2-notebook[sim]``) or ``command`` (an argv, or a shell-quoted
    string, that runs ``python -m ot2_notebook.simulator``'s equivalent, e.g. a pipx
    ``ot2-sim``); without either, as :func:`find_simulator` finds it, setting the cache
    environment up the first time (its steps go to ``progress``, by default printed).

    Options mirror the ``ot2-sim`` command line: ``host``, ``max_protocols`` (1, as the
    robot), ``analysis_timeout`` (s), ``speed``, ``max_api_level`` (e.g. ``"2.11"``, the
    limit of robot software 4.7), ``protocol_sessions`` (the feature flag, on),
    ``session_events`` (publish the ``session_events`` topic, on; off imitates a real 4.x
    robot), ``data_dir``, ``allow_hosts`` (names served besides this machine's loopback
    names, as ``--allow-host``), ``robot_software`` (4, or 8: the ``/protocols`` + ``/runs``
    API of robot-server 8), ``mqtt_broker`` (software 8: ``"auto"``, ``"none"`` or
    ``"HOST:PORT"``), ``analysis_cache`` (analyses kept for unchanged re-uploads, 128; 0:
    off) and ``analysis_cache_mb`` (64), ``startup_timeout`` (s); the attached hardware:
    ``hardware`` (a preset: ``"tutorial"``, the default, ``"recorded"``, ``"empty"``; a JSON
    file's path; or that file's content as a dict), ``left`` and ``right`` (a pipette name
    or model, or ``"none"``), ``modules`` (a list of module models, replacing the preset's);
    ``robot_like=True`` (behave as a real robot-server 4.7 where a client must cope: see
    ``ot2-sim --help``) and ``stop_delay`` (s, robot-like: how long a cancel or delete of a
    running session holds every request). Returns a handle with ``.url`` and ``.stop()``;
    it is also a context manager.
    """
    from ot2_notebook.simulator.launcher import start as _start

    return _start(port=port, python=python, command=command, progress=progress, **options)


def find_simulator(
    *, python: str | None = None, command: str | Sequence[str] | None = None
) -> SimulatorChoice:
    """Which simulator :func:`start` would launch and why (sets nothing up). In order:
    ``python``/``command``; ``OT2_SIM_PYTHON``/``OT2_SIM_COMMAND``; an ``ot2-sim`` on PATH
    of this version; this environment if it can run the server; the cache environment
    (``.ready`` is false until it is set up)."""
    from ot2_notebook.simulator.environment import find_simulator as _find

    return _find(python=python, command=command)


def setup_simulator(
    *,
    force: bool = False,
    python: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Set up the simulator's own environment in the user's cache folder now (once; again
    when this package changes, or with ``force``); returns its interpreter. ``python``:
    the Python 3.10-3.12 to build it on."""
    from ot2_notebook.simulator.environment import setup_simulator as _setup

    return _setup(force=force, python=python, progress=progress)


def __getattr__(name: str) -> Any:
    if name == "SimulatorHandle":
        from ot2_notebook.simulator.launcher import SimulatorHandle

        return SimulatorHandle
    if name in ("SimulatorChoice", "SimulatorError", "SimulatorSetupError"):
        from ot2_notebook.simulator import environment

        return getattr(environment, name)
    raise AttributeError(name)
