"""An MQTT broker of the simulator's own: Debian's ``mosquitto`` on a free loopback port.

A real robot runs its broker on 127.0.0.1:1883 of the robot itself. The simulator must not
take 1883 (another robot-server, or the user's own broker, may hold it), so it starts
``mosquitto`` on a port the OS picks, bound to loopback only, without persistence, and
advertises the address in ``GET /health`` (``simulator.mqtt``). The broker ends with the
simulator (and with it if the simulator is killed: Linux' parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto")
_PR_SET_PDEATHSIG = 1


def find_mosquitto() -> str | None:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """``mosquitto`` listening on ``host:port`` (chosen by ``start``)."""

    def __init__(self, executable: str, folder: Path, host: str = "127.0.0.1") -> None:
        self.executable = executable
        self.folder = folder
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0, attempts: int = 3) -> None:
        """Start on a free port; another one if the port was taken meanwhile."""
        self.folder.mkdir(parents=True, exist_ok=True)
        last_log = ""
        for _ in range(attempts):
            port = _free_port(self.host)
            config = self.folder / "mosquitto.conf"
            config.write_text(
                f"listener {port} {self.host}\nallow_anonymous true\npersistence false\n"
                "log_dest stderr\n"
            )
            log_path = self.folder / "mosquitto.log"
            with open(log_path, "wb") as log_file:
                process = subprocess.Popen(
                    [self.executable, "-c", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if os.name == "posix" else None,
                )
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if _accepts(self.host, port):
                    self._process, self.port = process, port
                    log.info("started mosquitto on %s:%s", self.host, port)
                    return
                time.sleep(0.02)
            last_log = log_path.read_text(errors="replace")[-500:]
            self._stop(process)
        raise RuntimeError(f"mosquitto did not start: {last_log.strip() or 'no output'}")

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def stop(self) -> None:
        if self._process is not None:
            self._stop(self._process)
            self._process = None
