"""One simulated OT-2 on robot software 8: its data folder, workers, managers, MQTT.

Built from a ``SimulatorConfig`` (``robot_software`` 5 or more); ``start()`` and ``stop()``
run in the ASGI lifespan. ``mqtt_broker`` says where notifications go: ``"auto"`` starts
Debian's ``mosquitto`` on a free loopback port when it is installed (else none), ``"none"``
publishes nothing, ``"HOST:PORT"`` publishes to that broker (a real robot's is
127.0.0.1:1883 on the robot itself).
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from ot2_notebook._version import __version__
from ot2_notebook.simulator.config import SimulatorConfig
from ot2_notebook.simulator.robot import prepare_data_dir
from ot2_notebook.simulator.v8.analyses import AnalysisManager
from ot2_notebook.simulator.v8.broker import MosquittoBroker, find_mosquitto
from ot2_notebook.simulator.v8.notifications import MqttPublisher, NoBroker, Publisher, RunTopics
from ot2_notebook.simulator.v8.protocols import ProtocolManager
from ot2_notebook.simulator.v8.runs import RunManager
from ot2_notebook.simulator.v8.settings import AdvancedSettings
from ot2_notebook.simulator.workers import messages_v8 as msg
from ot2_notebook.simulator.workers.pool_v8 import EngineWorkerPool
from ot2_notebook.simulator.workers.serve_v8 import WORK_DIR_ENV

log = logging.getLogger(__name__)


def parse_broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"an MQTT broker address looks like 127.0.0.1:1883, not {text!r}")
    return host.strip("[]"), int(port)


class SoftwareEightRobot:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.data_dir, self._temporary = prepare_data_dir(config.data_dir)
        for name, env in (("opentrons-config", "OT_API_CONFIG_DIR"), ("work", WORK_DIR_ENV)):
            (self.data_dir / name).mkdir(exist_ok=True)
            os.environ[env] = str(self.data_dir / name)
        self.pool = EngineWorkerPool(
            spares=config.spare_workers, memory_limit_mb=config.worker_memory_mb
        )
        self.analyses = AnalysisManager(
            self.pool, timeout=config.analysis_timeout, max_api_level=config.max_api_level
        )
        self.protocols = ProtocolManager(
            self.data_dir / "protocols",
            self.analyses,
            max_protocols=config.max_protocols,
            limits=config.limits,
        )
        self.broker: MosquittoBroker | None = None
        self.mqtt_address: tuple[str, int] | None = None
        self.publisher: Publisher = NoBroker()
        self.topics = RunTopics(self.publisher)
        self.runs = RunManager(
            self.pool,
            self.protocols,
            self.topics,
            timeout=config.analysis_timeout,
            speed=config.speed,
            stop_timeout=min(10.0, config.analysis_timeout),
        )
        self.settings = AdvancedSettings()
        self.info: dict[str, Any] = {}

    def _connect_mqtt(self) -> None:
        choice = (self.config.mqtt_broker or "auto").strip()
        if choice == "none":
            return
        if choice == "auto":
            executable = find_mosquitto()
            if executable is None:
                log.info("no mosquitto found: no MQTT notifications (clients poll)")
                return
            self.broker = MosquittoBroker(executable, self.data_dir / "mqtt")
            try:
                self.broker.start()
            except (OSError, RuntimeError) as exc:
                log.warning("could not start mosquitto (%s): no MQTT notifications", exc)
                self.broker = None
                return
            self.mqtt_address = (self.broker.host, self.broker.port)
        else:
            self.mqtt_address = parse_broker(choice)
        publisher = MqttPublisher(*self.mqtt_address)
        if self.broker is not None:
            publisher.wait_connected(5.0)
        self.publisher = publisher
        self.topics.publisher = publisher

    def start(self) -> None:
        """Start the warm worker pool (imports opentrons once), learn its versions, and the
        MQTT broker or connection."""
        self.pool.start(wait=True)
        worker = self.pool.acquire()
        try:
            worker.send(msg.ProbeJob())
            probed = worker.recv(self.config.analysis_timeout)
            self.info = dict(probed.info) if isinstance(probed, msg.Probed) else {}
        finally:
            worker.kill_soon()
        self._connect_mqtt()
        log.info("software 8 robot ready: opentrons %s", self.info.get("opentrons_version"))

    def stop(self) -> None:
        self.runs.close()
        self.pool.shutdown()
        self.protocols.clear()
        self.publisher.close()
        if self.broker is not None:
            self.broker.stop()
        if self._temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def max_api_version(self) -> list[int]:
        simulated = list(self.info.get("max_api_version", [2, 20]))
        if self.config.max_api_level is None:
            return simulated
        return min(simulated, list(self.config.max_api_level))

    def health(self) -> dict[str, Any]:
        """``GET /health`` as robot software 8.1.0 answers it, plus ``simulator`` details."""
        mqtt = None
        if self.mqtt_address is not None:
            mqtt = {
                "host": self.mqtt_address[0],
                "port": self.mqtt_address[1],
                "started_by_simulator": self.broker is not None,
            }
        return {
            "name": "ot2-sim",
            "robot_model": "OT-2 Standard",
            "api_version": str(self.info.get("opentrons_version") or "8"),
            "fw_version": "Virtual Smoothie",
            "board_revision": "2.1",
            "logs": [
                "/logs/serial.log",
                "/logs/api.log",
                "/logs/server.log",
                "/logs/update_server.log",
            ],
            "system_version": "0.0.0",
            "maximum_protocol_api_version": self.max_api_version(),
            "minimum_protocol_api_version": self.info.get("min_api_version", [2, 0]),
            "robot_serial": "simulator",
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
                "robot_software": self.config.robot_software,
                "opentrons_version": self.info.get("opentrons_version"),
                "python_version": self.info.get("python"),
                "speed": self.config.speed,
                "mqtt": mqtt,
            },
        }
