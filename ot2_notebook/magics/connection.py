"""The magics' robot: which robot the kernel uses, and the simulated robot they started.

:class:`Connection` keeps three things in step: the kernel's current robot
(:func:`ot2_notebook.current_robot`), the ``OT2Magics.robot_url`` setting and the client the
extension owns. It does the work of ``%ot2_connect`` (read the robot's health and whether
HTTP protocol sessions are on, then make it the current robot) and owns the simulated robot
``%ot2_connect --simulate`` starts: reused while its options are unchanged, restarted when
they change, stopped when the extension unloads (or the kernel exits: the simulator's
launcher sees to that).

The simulator may run from an environment of its own: ``OT2Magics.simulator_python`` (the
interpreter of an environment with the simulator) and ``OT2Magics.simulator_command`` (an
argv string that runs it) are passed to :func:`ot2_notebook.simulator.start` when set, and
the one-line progress messages it reports while it sets an environment up are printed in
the cell's output as they arrive.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ot2_notebook.client import (
    Health,
    NoCurrentRobotError,
    RobotClient,
    RobotError,
    current_robot,
    set_current_robot,
)
from ot2_notebook.magics.errors import OT2MagicError, RobotRequestError

if TYPE_CHECKING:
    from ot2_notebook.simulator import SimulatorHandle

__all__ = ["Connected", "Connection", "ConnectionSettings", "SimulatorOptions"]

#: The advanced setting that turns HTTP protocol sessions on (robot software 4.x).
_SESSIONS_SETTING = "enableHttpProtocolSessions"


class ConnectionSettings(Protocol):
    """The settings a connection reads (``OT2Magics`` has them, as ``%config`` traits)."""

    @property
    def robot_url(self) -> str: ...

    @property
    def analysis_timeout(self) -> float: ...

    @property
    def simulate_speed(self) -> float | None: ...

    @property
    def simulate_max_protocols(self) -> int: ...

    @property
    def simulate_hardware(self) -> str: ...

    @property
    def simulator_python(self) -> str: ...

    @property
    def simulator_command(self) -> str: ...


@dataclass(frozen=True)
class SimulatorOptions:
    """What a simulated robot is started with; a change means a restart."""

    speed: float | None
    max_protocols: int
    analysis_timeout: float
    python: str = ""
    command: str = ""
    #: The attached hardware: a preset or a JSON file (``ot2-sim --hardware``); "": default.
    hardware: str = ""

    def start_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ot2_notebook.simulator.start` (``python``,
        ``command`` and ``hardware`` only when set)."""
        arguments: dict[str, Any] = {
            "speed": self.speed,
            "max_protocols": self.max_protocols,
            "analysis_timeout": self.analysis_timeout,
        }
        if self.hardware:
            arguments["hardware"] = self.hardware
        if self.python:
            arguments["python"] = self.python
        if self.command:
            arguments["command"] = self.command
        return arguments

    def __str__(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.start_arguments().items())


@dataclass(frozen=True)
class Connected:
    """What ``%ot2_connect`` found: the robot, its health, whether sessions are enabled
    (``None``: its settings could not be read), the simulator it runs on (if ours)."""

    client: RobotClient
    health: Health
    sessions_enabled: bool | None
    simulator: SimulatorHandle | None


class Connection:
    """The kernel's robot for the magics, and the simulated robot they started.

    ``settings`` are read when needed (they can change at any time); ``set_url(url)``
    updates the ``robot_url`` setting without connecting again (it is called when
    ``%ot2_connect`` chose a robot, and with ``""`` when the simulated robot it named
    stops). ``on_stopped(url)`` is told when the simulated robot at ``url`` stopped (what
    was made on it is gone). ``progress`` shows a message of the simulator's start-up
    (``print`` by default: in a cell, the line appears in its output at once).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        set_url: Callable[[str], None],
        *,
        on_stopped: Callable[[str], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._set_url = set_url
        self._on_stopped = on_stopped
        self._progress = progress or _print_line
        #: The client this extension created and owns (closed when replaced).
        self.client: RobotClient | None = None
        #: The simulated robot this extension started, if any.
        self.simulator: SimulatorHandle | None = None
        self.simulator_options: SimulatorOptions | None = None

    # -- the current robot -----------------------------------------------------------------

    @property
    def request_timeout(self) -> float:
        """Seconds a request may take: an upload waits for the robot's analysis."""
        return max(30.0, self.settings.analysis_timeout + 15.0)

    def _own(self, client: RobotClient) -> RobotClient:
        if self.client is not None and self.client is not client:
            self.client.close()
        self.client = client
        return client

    def use_url(self, url: str) -> RobotClient:
        """``robot_url`` was set: a client for ``url`` becomes the current robot."""
        client = self._own(RobotClient(url, timeout=self.request_timeout))
        set_current_robot(client)
        return client

    def robot(self) -> RobotClient:
        """The current robot (``%ot2_connect``, or the ``robot_url`` setting)."""
        try:
            return current_robot()
        except NoCurrentRobotError as exc:
            if self.settings.robot_url:
                return self.use_url(self.settings.robot_url)
            raise OT2MagicError(
                "No robot chosen for this kernel.\nRun %ot2_connect http://ROBOT_IP:31950 for "
                "an OT-2, or %ot2_connect --simulate for a simulated robot (or %config "
                "OT2Magics.robot_url = 'http://ROBOT_IP:31950')."
            ) from exc

    @staticmethod
    def current_url() -> str:
        """The URL of the kernel's current robot, or ``""``."""
        try:
            return current_robot().base_url
        except NoCurrentRobotError:
            return ""

    def connect(self, url: str, simulator: SimulatorHandle | None = None) -> Connected:
        """Reach the robot at ``url``; if it answers, make it the kernel's robot.

        A robot that does not answer raises :class:`RobotRequestError` and changes nothing.
        """
        client = RobotClient(url, timeout=self.request_timeout)
        try:
            health = client.health()
        except RobotError as exc:
            client.close()
            raise RobotRequestError(
                f"Connecting to {url}", exc, "The kernel's robot was not changed."
            ) from exc
        try:
            sessions_enabled: bool | None = bool(client.settings().get(_SESSIONS_SETTING))
        except RobotError:
            sessions_enabled = None
        set_current_robot(self._own(client))
        self._set_url(url)
        return Connected(client, health, sessions_enabled, simulator)

    # -- the simulated robot ---------------------------------------------------------------

    def wanted_simulator(
        self, speed: float | None = None, hardware: str | None = None
    ) -> SimulatorOptions:
        """The options a simulator started now gets (``speed`` and ``hardware`` override
        the settings)."""
        settings = self.settings
        return SimulatorOptions(
            speed=speed if speed is not None else settings.simulate_speed,
            max_protocols=settings.simulate_max_protocols,
            analysis_timeout=settings.analysis_timeout,
            python=settings.simulator_python,
            command=settings.simulator_command,
            hardware=hardware if hardware is not None else settings.simulate_hardware,
        )

    def ensure_simulator(
        self, speed: float | None = None, hardware: str | None = None
    ) -> SimulatorHandle:
        """The simulated robot with the current options: the running one if they did not
        change, else a new one (the old one is stopped, saying so)."""
        options = self.wanted_simulator(speed, hardware)
        handle = self.simulator
        if handle is not None and handle.running and options == self.simulator_options:
            return handle
        if handle is not None:
            if handle.running:
                print(
                    f"Restarting the simulated robot with new options ({options}); the "
                    "protocols and sessions on the old one are gone."
                )
            self.stop_simulator()
        from ot2_notebook import simulator

        try:
            handle = simulator.start(port=0, progress=self._progress, **options.start_arguments())
        except (RuntimeError, OSError) as exc:
            raise OT2MagicError(f"Could not start the simulated robot: {exc}") from exc
        self.simulator = handle
        self.simulator_options = options
        return handle

    def stop_simulator(self) -> str | None:
        """Stop the simulated robot this extension started; returns its URL (``None`` if
        there was none). If it was the kernel's robot, the kernel has none afterwards."""
        handle, self.simulator = self.simulator, None
        self.simulator_options = None
        if handle is None:
            return None
        with contextlib.suppress(NoCurrentRobotError):
            if current_robot().base_url == handle.url:
                set_current_robot(None)
        if self.settings.robot_url == handle.url:
            self._set_url("")
        handle.stop()
        if self._on_stopped is not None:
            self._on_stopped(handle.url)
        return handle.url

    def close(self) -> None:
        """Stop the simulator and close the extension's connections."""
        self.stop_simulator()
        if self.client is not None:
            self.client.close()
            self.client = None


def _print_line(message: str) -> None:
    print(message, flush=True)
