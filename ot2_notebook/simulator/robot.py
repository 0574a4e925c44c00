"""One simulated robot: builds its parts from a ``SimulatorConfig`` and wires them together.

The data folder, worker pool, analyzer, protocol store and uploads, session runner and
manager, settings and notification feed are made here, each handed the others it needs
(nothing else constructs them). ``start()`` and ``stop()`` run in the ASGI lifespan.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ot2_notebook._version import __version__
from ot2_notebook.simulator.advanced_settings import AdvancedSettings
from ot2_notebook.simulator.analysis import Analysis, Analyzer
from ot2_notebook.simulator.analysis_cache import AnalysisCache, CacheSettings, CacheStats
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.notifications import NotificationHub
from ot2_notebook.simulator.protocol_store import ProtocolStore
from ot2_notebook.simulator.robot_like import (
    Answers,
    Gate,
    RequestLog,
    RobotLikeAnswers,
    RobotLikeStops,
    Stops,
)
from ot2_notebook.simulator.runner import SessionRunner
from ot2_notebook.simulator.sessions import SessionManager
from ot2_notebook.simulator.uploads import ProtocolUploads
from ot2_notebook.simulator.workers.messages import ProbeResult
from ot2_notebook.simulator.workers.pool import WorkerPool

log = logging.getLogger(__name__)

#: The robot software whose HTTP API the simulator speaks.
ROBOT_SOFTWARE_VERSION = "4.7.0"
_MARKER = ".ot2-sim-data"


def prepare_data_dir(requested: Path | None) -> tuple[Path, bool]:
    """The folder to keep files in, and whether it is temporary (removed at shutdown).

    A given folder must be empty or one the simulator made before (it holds a marker
    file): the simulator clears it at start, as a robot forgets uploads on restart, and
    must never clear a folder of the user's by mistake.
    """
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="ot2-sim-")), True
    folder = requested.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    entries = [p for p in folder.iterdir() if p.name != _MARKER]
    if entries and not (folder / _MARKER).exists():
        raise SystemExit(
            f"ot2-sim: --data-dir {folder} is not empty and was not made by ot2-sim; "
            "give an empty or new folder."
        )
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (folder / _MARKER).write_text("This folder holds ot2-sim's uploaded protocols.\n")
    return folder, False


class SimulatedRobot:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.data_dir, self._temporary = prepare_data_dir(config.data_dir)
        # opentrons writes its config (deck calibration, settings) here, not in ~/.opentrons
        os.environ.setdefault("OT_API_CONFIG_DIR", str(self.data_dir / "opentrons-config"))
        (self.data_dir / "opentrons-config").mkdir(exist_ok=True)
        self.hub = NotificationHub(session_events=config.session_events)
        self.settings = AdvancedSettings(protocol_sessions=config.protocol_sessions)
        self.pool = WorkerPool(spares=config.spare_workers, memory_limit_mb=config.worker_memory_mb)
        self.analyzer = Analyzer(
            self.pool,
            timeout=config.analysis_timeout,
            concurrency=max(2, os.cpu_count() or 2),
            max_api_level=config.max_api_level,
        )
        self.protocols = ProtocolStore(
            self.data_dir / "protocols", max_protocols=config.max_protocols, limits=config.limits
        )
        self.analysis_cache: AnalysisCache[Analysis] = AnalysisCache(
            max_entries=config.analysis_cache_entries,
            max_bytes=int(config.analysis_cache_mb * 1024 * 1024),
        )
        self.uploads = ProtocolUploads(self.protocols, self.analyzer, self.analysis_cache)
        self.runner = SessionRunner(
            self.analyzer,
            self.pool,
            speed=config.speed,
            stall_timeout=config.analysis_timeout,
            hardware=config.hardware,
        )
        self.sessions = SessionManager(
            self.data_dir / "sessions",
            self.hub,
            self.runner,
            settings=self.settings,
            protocols=self.protocols,
            simulate_wait=config.analysis_timeout,
        )
        self.info: ProbeResult | None = None
        #: What the robot-like mode changes (README "The robot-like mode"); the default
        #: mode's answers are as they are and its stops are at once.
        self.answers: Answers = RobotLikeAnswers() if config.robot_like else Answers()
        self.gate = Gate()
        self.stops: Stops = (
            RobotLikeStops(config.stop_delay, self.gate) if config.robot_like else Stops()
        )
        self.request_log: RequestLog | None = RequestLog() if config.robot_like else None

    def start(self) -> None:
        """Start the warm worker pool (imports opentrons once), learn its versions and check
        the opentrons internals the workers rely on (``UnsupportedOpentrons`` if any is
        missing)."""
        self.pool.start(wait=True)
        self.info = self.analyzer.probe()
        self.analysis_cache.configure(
            CacheSettings(
                opentrons_version=self.info.opentrons_version,
                python_version=self.info.python,
                simulator_version=__version__,
                robot_software=4,
                max_api_level=self.config.max_api_level,
                # fixed for the process's life, and analyses do not read it today; keyed all
                # the same, so that an analysis that comes to depend on it stays right
                hardware=(self.config.hardware.describe(),),
            )
        )
        log.info(
            "workers ready: opentrons %s, Python %s",
            self.info.opentrons_version,
            self.info.python,
        )

    def stop(self) -> None:
        self.hub.close_all()
        self.runner.stop_all()
        self.sessions.clear()
        self.pool.shutdown()
        self.protocols.clear()
        if self._temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def analysis_counters(self) -> tuple[CacheStats, int, int]:
        """The analysis cache's figures, worker jobs started and worker processes forked."""
        return self.analysis_cache.stats(), self.pool.jobs, self.pool.forks

    def max_api_version(self) -> list[int]:
        simulated = list(self.info.max_api_version if self.info else (2, 0))
        if self.config.max_api_level is None:
            return simulated
        return min(simulated, list(self.config.max_api_level))

    def health(self) -> dict[str, Any]:
        """``GET /health`` as robot software 4.7 answers it, plus ``simulator`` details."""
        return {
            "name": "ot2-sim",
            "api_version": ROBOT_SOFTWARE_VERSION,
            "fw_version": "Virtual Smoothie",
            "board_revision": "2.1",
            "logs": ["/logs/serial.log", "/logs/api.log", "/logs/server.log"],
            "system_version": "0.0.0",
            "maximum_protocol_api_version": self.max_api_version(),
            "minimum_protocol_api_version": list(
                self.info.min_api_version if self.info else (2, 0)
            ),
            "links": {
                "apiLog": "/logs/api.log",
                "serialLog": "/logs/serial.log",
                "serverLog": "/logs/server.log",
                "apiSpec": "/openapi.json",
                "systemTime": "/system/time",
            },
            "simulator": {
                "name": "ot2-sim",
                "version": __version__,
                "opentrons_version": self.info.opentrons_version if self.info else None,
                "python_version": self.info.python if self.info else None,
                "max_protocols": self.config.max_protocols,
                "speed": self.config.speed,
                "session_events": self.config.session_events,
                "hardware": self.config.hardware.describe(),
            },
        }
