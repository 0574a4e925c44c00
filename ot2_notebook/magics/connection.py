"""The magics' robots: which robots the kernel uses, and the simulated robots they started.

:class:`Connection` keeps three things in step: the kernel's robots by name
(:mod:`ot2_notebook.client.current`: the default one is :func:`ot2_notebook.current_robot`),
the ``OT2Magics.robot_url`` setting (the default robot's URL) and the clients the extension
owns. It does the work of ``%ot2_connect`` (read the robot's health, which robot API it
speaks, and on robot software 4.x whether HTTP protocol sessions are on, then register it)
and owns the simulated robots ``%ot2_connect --simulate`` starts (one per robot name): reused
while their options are unchanged,
restarted when they change, stopped when the extension unloads (or the kernel exits: the
simulator's launcher sees to that).

The simulator may run from an environment of its own: ``OT2Magics.simulator_python`` (the
interpreter of an environment with the simulator) and ``OT2Magics.simulator_command`` (an
argv string that runs it) are passed to :func:`ot2_notebook.simulator.start` when set, and
the one-line progress messages it reports while it sets an environment up are printed in
the cell's output as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ot2_notebook.client import (
    Health,
    NoCurrentRobotError,
    RobotClient,
    RobotError,
    UnknownRobotError,
    add_robot,
    current_robot,
    default_robot_name,
    remove_robot,
    robots,
)
from ot2_notebook.client import robot as robot_named
from ot2_notebook.client.current import DEFAULT_NAME
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
    def simulate_robot_software(self) -> int: ...

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
    robot_software: int = 4
    #: The attached hardware: a preset or a JSON file (``ot2-sim --hardware``); "": default.
    hardware: str = ""

    def start_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ot2_notebook.simulator.start` (``python``,
        ``command`` and ``hardware`` only when set; a software 8 robot keeps its own
        protocol limit)."""
        arguments: dict[str, Any] = {
            "speed": self.speed,
            "analysis_timeout": self.analysis_timeout,
        }
        if self.robot_software == 4:
            arguments["max_protocols"] = self.max_protocols
        else:
            arguments["robot_software"] = self.robot_software
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
    name: str = DEFAULT_NAME


class Connection:
    """The kernel's robots for the magics, and the simulated robots they started.

    Robots have names (:mod:`ot2_notebook.client.current`): ``%ot2_connect URL`` connects
    the default robot (named ``"default"`` unless ``--name`` says otherwise), ``%ot2_connect
    URL --name NAME`` another one, which becomes the default only if there is none yet (or
    with ``--default``). Each name has at most one simulated robot (``--simulate``).

    ``settings`` are read when needed (they can change at any time); ``set_url(url)``
    updates the ``robot_url`` setting without connecting again (it is called when
    ``%ot2_connect`` chose the default robot, and with ``""`` when the simulated robot it
    named stops). ``on_stopped(url)`` is told when the simulated robot at ``url`` stopped
    (what was made on it is gone). ``progress`` shows a message of the simulator's start-up
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
        #: The clients this extension created and owns, by robot name (closed when replaced).
        self.clients: dict[str, RobotClient] = {}
        #: The simulated robots this extension started, by robot name, with their options.
        self.simulators: dict[str, tuple[SimulatorHandle, SimulatorOptions]] = {}

    # -- the robots ------------------------------------------------------------------------

    @property
    def simulator(self) -> SimulatorHandle | None:
        """The simulated robot of the default name (``%ot2_connect --simulate``)."""
        found = self.simulators.get(DEFAULT_NAME)
        return found[0] if found is not None else None

    @property
    def client(self) -> RobotClient | None:
        """The client of the default robot, if this extension created it."""
        name = default_robot_name()
        return self.clients.get(name) if name is not None else None

    @property
    def request_timeout(self) -> float:
        """Seconds a request may take: an upload waits for the robot's analysis."""
        return max(30.0, self.settings.analysis_timeout + 15.0)

    def _register(self, name: str, client: RobotClient, *, default: bool) -> bool:
        """Make ``client`` robot ``name``; returns whether it is the default robot now."""
        old = self.clients.get(name)
        if old is not None and old is not client:
            old.close()
        self.clients[name] = client
        add_robot(name, client, default=default)
        return default_robot_name() == name

    def use_url(self, url: str) -> RobotClient:
        """``robot_url`` was set: a client for ``url`` becomes the default robot."""
        client = RobotClient(url, timeout=self.request_timeout)
        self._register(default_robot_name() or DEFAULT_NAME, client, default=True)
        return client

    def robot(self, name: str | None = None) -> RobotClient:
        """Robot ``name``, or the default robot (``%ot2_connect``, or the ``robot_url``
        setting)."""
        if name is not None:
            try:
                return robot_named(name)
            except UnknownRobotError as exc:
                names = ", ".join(repr(n) for n in robots()) or "none yet"
                raise OT2MagicError(
                    f"No robot named {name!r} in this kernel (robots: {names}).\nConnect it "
                    f"with %ot2_connect http://ROBOT_IP:31950 --name {name}."
                ) from exc
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
        """The URL of the kernel's default robot, or ``""``."""
        try:
            return current_robot().base_url
        except NoCurrentRobotError:
            return ""

    @staticmethod
    def url_of(name: str) -> str:
        """The URL robot ``name`` was connected with, or ``""``."""
        found = robots().get(name)
        return found.base_url if found is not None else ""

    def connect(
        self,
        url: str,
        simulator: SimulatorHandle | None = None,
        *,
        name: str | None = None,
        default: bool = False,
    ) -> Connected:
        """Reach the robot at ``url``; if it answers, make it robot ``name`` (``None``: the
        default robot, which this becomes). A robot that does not answer raises
        :class:`RobotRequestError` and changes nothing."""
        client = RobotClient(url, timeout=self.request_timeout)
        try:
            health = client.health()
        except RobotError as exc:
            client.close()
            raise RobotRequestError(
                f"Connecting to {url}", exc, "The kernel's robot was not changed."
            ) from exc
        sessions_enabled: bool | None = None
        if not client.uses_runs_api:  # robot software 5+ has no protocol sessions to enable
            try:
                sessions_enabled = bool(client.settings().get(_SESSIONS_SETTING))
            except RobotError:
                sessions_enabled = None
        if name is None:
            name, default = default_robot_name() or DEFAULT_NAME, True
        if self._register(name, client, default=default):
            self._set_url(url)
        return Connected(client, health, sessions_enabled, simulator, name)

    # -- the simulated robots ----------------------------------------------------------------

    def wanted_simulator(
        self,
        speed: float | None = None,
        robot_software: int | None = None,
        hardware: str | None = None,
    ) -> SimulatorOptions:
        """The options a simulator started now gets (``speed``, ``robot_software`` and
        ``hardware`` override the settings)."""
        settings = self.settings
        software = robot_software or getattr(settings, "simulate_robot_software", 4) or 4
        return SimulatorOptions(
            speed=speed if speed is not None else settings.simulate_speed,
            max_protocols=settings.simulate_max_protocols,
            analysis_timeout=settings.analysis_timeout,
            python=settings.simulator_python,
            command=settings.simulator_command,
            robot_software=int(software),
            hardware=hardware if hardware is not None else settings.simulate_hardware,
        )

    def ensure_simulator(
        self,
        speed: float | None = None,
        name: str = DEFAULT_NAME,
        robot_software: int | None = None,
        hardware: str | None = None,
    ) -> SimulatorHandle:
        """Robot ``name``'s simulated robot with the current options: the running one if
        they did not change, else a new one (the old one is stopped, saying so)."""
        options = self.wanted_simulator(speed, robot_software, hardware)
        found = self.simulators.get(name)
        if found is not None:
            handle, running_options = found
            if handle.running and options == running_options:
                return handle
            if handle.running:
                print(
                    f"Restarting the simulated robot with new options ({options}); the "
                    "protocols and sessions on the old one are gone."
                )
            self.stop_simulator(name)
        from ot2_notebook import simulator

        try:
            handle = simulator.start(port=0, progress=self._progress, **options.start_arguments())
        except (RuntimeError, OSError) as exc:
            raise OT2MagicError(f"Could not start the simulated robot: {exc}") from exc
        self.simulators[name] = (handle, options)
        return handle

    def stop_simulator(self, name: str = DEFAULT_NAME) -> str | None:
        """Stop robot ``name``'s simulated robot; returns its URL (``None`` if there was
        none). The robot of that name is then forgotten (if it was the default, the kernel
        has none afterwards)."""
        found = self.simulators.pop(name, None)
        if found is None:
            return None
        handle = found[0]
        for robot_name, client in list(robots().items()):
            if client.base_url == handle.url:
                remove_robot(robot_name)
                owned = self.clients.pop(robot_name, None)
                if owned is not None:
                    owned.close()
        if self.settings.robot_url == handle.url:
            self._set_url("")
        handle.stop()
        if self._on_stopped is not None:
            self._on_stopped(handle.url)
        return handle.url

    def close(self) -> None:
        """Stop the simulators and close the extension's connections (its robots are
        forgotten)."""
        for name in list(self.simulators):
            self.stop_simulator(name)
        for name, client in list(self.clients.items()):
            if robots().get(name) is client:
                remove_robot(name)
            client.close()
        self.clients.clear()


def _print_line(message: str) -> None:
    print(message, flush=True)
