"""Settings of one simulated robot, from the command line or ``start()`` (standard library only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ot2_notebook.simulator.hardware import TUTORIAL, AttachedHardware

DEFAULT_PORT = 31950
#: Robot-like mode: seconds a cancel or delete of a running session holds the whole server
#: (robot-server 4.7 blocked 11 s and 14 s in recordings 12 and 13).
DEFAULT_STOP_DELAY = 12.0
#: The highest Python Protocol API level robot software 4.7 runs.
ROBOT_SOFTWARE_4_MAX_API = (2, 11)
LOCALHOST = "localhost"


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ``::1``, IPv4-mapped 127.x)."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in (LOCALHOST, LOCALHOST + "."):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may contain. The real 4.7 robot has none (a 120 MB
    upload took a minute); these keep the simulator responsive and its disk tidy."""

    max_file_bytes: int = 10 * 1024 * 1024
    max_request_bytes: int = 50 * 1024 * 1024
    max_files: int = 64


@dataclass(frozen=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: The robot keeps one uploaded protocol; tests and notebooks may allow more.
    #: (Software 8: protocols no run refers to; robot-server 8 keeps 5.)
    max_protocols: int = 1
    #: Seconds an analysis (or a session load) may take before it counts as hung.
    analysis_timeout: float = 60.0
    #: ``None``: run steps back to back. ``X``: pace steps by estimated robot time / X.
    speed: float | None = None
    #: Refuse protocols above this API level, as robot software 4.7 (2.11) does; ``None``:
    #: whatever the installed opentrons simulates.
    max_api_level: tuple[int, int] | None = None
    #: Initial value of the ``enableHttpProtocolSessions`` feature flag.
    protocol_sessions: bool = True
    #: Publish the ``session_events`` topic (real 4.x robots do not).
    session_events: bool = True
    #: Where protocols and session files live; a fresh temporary folder when ``None``.
    data_dir: Path | None = None
    #: Worker processes forked ahead of time, and each worker's memory bound (MB).
    spare_workers: int = 2
    worker_memory_mb: int = 2048
    #: Analyses kept for unchanged re-uploads (``analysis_cache.py``): at most this many
    #: entries and megabytes; 0 entries turns the cache off.
    analysis_cache_entries: int = 128
    analysis_cache_mb: float = 64.0
    limits: Limits = field(default_factory=Limits)
    #: Host names (or addresses) served besides loopback and ``host`` (``--allow-host``);
    #: ``"*"`` serves any ``Host``. Foreign ``Origin`` headers are refused regardless.
    allow_hosts: tuple[str, ...] = ()
    #: The robot software to imitate: 4 (HTTP protocol sessions) or 8 (``/protocols`` + ``/runs``).
    robot_software: int = 4
    #: Software 8: where MQTT notifications go: "auto" (start mosquitto if installed), "none",
    #: or "HOST:PORT" of a broker.
    mqtt_broker: str = "auto"
    #: The robot's pipettes and modules (``--hardware``, ``--left``, ``--right``, ``--module``);
    #: a run's protocol must find the instruments it loads among them.
    hardware: AttachedHardware = TUTORIAL
    #: Behave as a real robot-server 4.7 where a client must cope (``--robot-like``): no
    #: session events, API <= 2.11, no run errors or other additions in answers, a cancel or
    #: delete of a running session that holds every request for ``stop_delay`` s, and a
    #: request log (``GET /simulator/requests``) in which a cancel or delete of a paused
    #: session, which deadlocks a real 4.7 server, is recorded and refused.
    robot_like: bool = False
    stop_delay: float = DEFAULT_STOP_DELAY

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)
