"""The simulated OT-2 robot (``ot2-sim``): the robot software 4.x HTTP API and notification
feed, backed by the real ``opentrons`` OT-2 simulation.

``start()`` runs it as a child process for notebooks and tests; ``ot2-sim`` (or
``python -m ot2_notebook.simulator``) runs it in the foreground. Importing this package
is cheap: the server and its dependencies load only in the child process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from ot2_notebook.simulator.launcher import SimulatorHandle

__all__ = ["SimulatorHandle", "start"]


def start(
    port: int = 0,
    *,
    python: str | None = None,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> SimulatorHandle:
    """Start a simulated robot in a child process on 127.0.0.1 and wait until it answers.

    ``port=0`` picks a free port. Options mirror the ``ot2-sim`` command line:
    ``host``, ``max_protocols`` (1, as the robot), ``analysis_timeout`` (s), ``speed``,
    ``max_api_level`` (e.g. ``"2.11"``, the limit of robot software 4.7),
    ``protocol_sessions`` (the feature flag, on), ``session_events`` (publish the
    ``session_events`` topic, on; off imitates a real 4.x robot), ``data_dir``,
    ``allow_hosts`` (names served besides this machine's loopback names, as
    ``--allow-host``), ``startup_timeout`` (s), ``robot_software`` (4, or 8: the
    ``/protocols`` + ``/runs`` API of robot-server 8), ``mqtt_broker`` (software 8:
    ``"auto"``, ``"none"`` or ``"HOST:PORT"``); the attached hardware: ``hardware`` (a
    preset: ``"tutorial"``, the default, ``"recorded"``, ``"empty"``; a JSON file's path; or
    that file's content as a dict), ``left`` and ``right`` (a pipette name or model, or
    ``"none"``), ``modules`` (a list of module models, replacing the preset's);
    ``robot_like=True`` (behave as a real robot-server 4.7 where a client must cope: see
    ``ot2-sim --help``) and ``stop_delay`` (s, robot-like: how long a cancel or delete of a
    running session holds every request). Returns a handle with ``.url`` and ``.stop()``;
    it is also a context manager.

    ``python`` (the interpreter of an environment with the simulator), ``command`` (an argv
    string that runs it) and ``progress`` (called with one-line messages while an
    environment is set up) are accepted and not used yet: the simulator's own environment
    comes with issue 12's environment work.
    """
    from ot2_notebook.simulator.launcher import start as _start

    del python, command, progress  # accepted for the magics' sake; see the docstring

    return _start(port=port, **options)


def __getattr__(name: str) -> Any:
    if name == "SimulatorHandle":
        from ot2_notebook.simulator.launcher import SimulatorHandle

        return SimulatorHandle
    raise AttributeError(name)
