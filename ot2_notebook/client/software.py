"""Which HTTP API a robot speaks, learnt from its ``GET /health``, and where it publishes.

Robot software 4.x runs protocols in experimental *protocol sessions* (``/sessions``,
``Opentrons-Version: 2``); robot software 5.0 (January 2022) replaced them with
``/protocols`` + ``/runs`` (HTTP API versions 3 and later). ``GET /health`` answers on both
(with ``Opentrons-Version: 2``), and its ``api_version`` is the robot software's version;
``ot2-sim`` adds ``simulator.robot_software`` (and, on software 8, ``simulator.mqtt``: the
broker it publishes to).

Robot software 5+ publishes its notifications over MQTT: a real robot runs the broker
itself, on port 1883 of the robot's own address; ``ot2-sim`` advertises its broker in
``/health`` (or none). Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["MQTT_PORT", "RUNS", "SESSIONS", "RobotSoftware"]

#: The two robot APIs.
SESSIONS: Final = "sessions"
RUNS: Final = "runs"

#: The MQTT port of a real robot's broker (robot software 5+).
MQTT_PORT: Final = 1883

#: The first robot software with the ``/protocols`` + ``/runs`` API.
_FIRST_RUNS_MAJOR: Final = 5


def _major(version: str) -> int | None:
    match = re.match(r"\s*v?(\d+)", version)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RobotSoftware:
    """What the client knows of a robot's software: ``version`` (``"4.7.0"``, ``"8.1.0"``;
    on ``ot2-sim`` the opentrons version), ``api`` (:data:`SESSIONS` or :data:`RUNS`),
    whether it is ``ot2-sim``, and the MQTT broker ``(host, port)`` it publishes to
    (``None``: none, so clients poll)."""

    version: str
    api: str
    simulated: bool = False
    mqtt: tuple[str, int] | None = None

    @property
    def major(self) -> int | None:
        """The robot software's major version (4, 8 ...), when known."""
        return _major(self.version)

    @property
    def uses_runs(self) -> bool:
        """Whether the robot speaks ``/protocols`` + ``/runs`` (robot software 5+)."""
        return self.api == RUNS

    def describe(self) -> str:
        """``robot software 8.1.0 (protocols and runs API)`` and the like."""
        kind = "protocols and runs API" if self.uses_runs else "protocol sessions API"
        return f"robot software {self.version or '?'} ({kind})"

    @classmethod
    def from_health(cls, health: Mapping[str, Any], base_url: str) -> RobotSoftware:
        """Read ``GET /health`` of the robot at ``base_url``."""
        version = str(health.get("api_version") or "")
        simulator = health.get("simulator")
        if isinstance(simulator, Mapping):
            software = simulator.get("robot_software")
            major = software if isinstance(software, int) else _major(str(software or version))
            api = RUNS if major is not None and major >= _FIRST_RUNS_MAJOR else SESSIONS
            mqtt = None
            broker = simulator.get("mqtt")
            if isinstance(broker, Mapping):
                host, port = broker.get("host"), broker.get("port")
                if isinstance(host, str) and isinstance(port, int):
                    mqtt = (host, port)
            return cls(version, api, simulated=True, mqtt=mqtt if api == RUNS else None)
        major = _major(version)
        if major is not None and major >= _FIRST_RUNS_MAJOR:
            return cls(version, RUNS, mqtt=_robot_broker(base_url))
        return cls(version, SESSIONS)

    @classmethod
    def assumed(cls, software: int | str, base_url: str) -> RobotSoftware:
        """The software a caller says the robot runs (``RobotClient(robot_software=8)``),
        without asking it; a real robot's broker is assumed on its own address."""
        version = str(software)
        major = _major(version)
        if major is None:
            raise ValueError(
                f"robot_software must be a robot software version such as 4, 8 or '8.1.0', not "
                f"{software!r}."
            )
        if major >= _FIRST_RUNS_MAJOR:
            return cls(version, RUNS, mqtt=_robot_broker(base_url))
        return cls(version, SESSIONS)


def _robot_broker(base_url: str) -> tuple[str, int] | None:
    host = urlsplit(base_url).hostname
    return (host, MQTT_PORT) if host else None
