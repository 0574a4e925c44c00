"""Run the simulated robot as a child process: for notebooks (``%ot2_connect --simulate``)
and tests.

The server runs from the simulator's own environment (``environment.py`` finds it, or sets
it up once), so this module imports nothing of the server: only the standard library,
``requests`` (to wait until it answers) and the stdlib-only ``sockets`` and ``environment``.
The parent binds the listening socket itself (so the port is known, and port 0 works
without races) and passes it to the child; the child also holds the read end of a pipe
whose write end only the parent has, so it shuts down when the parent dies, even by
SIGKILL. ``stop()`` asks for a graceful shutdown and kills the process group if that
takes too long, so no worker process outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

from ot2_notebook.simulator.environment import SimulatorChoice, SimulatorError, resolve_simulator
from ot2_notebook.simulator.sockets import bind

__all__ = ["SimulatorError", "SimulatorHandle", "start"]

_running: weakref.WeakSet[SimulatorHandle] = weakref.WeakSet()


class SimulatorHandle:
    """A running simulated robot. ``url`` is its base URL; ``stop()`` ends it."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        log_path: Path,
        parent_pipe: int,
        simulator: SimulatorChoice | None = None,
    ) -> None:
        self.process = process
        #: Which simulator runs (its command, and why it was chosen).
        self.simulator = simulator
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.log_path = log_path
        self._parent_pipe: int | None = parent_pipe
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then kill the whole process group after ``timeout`` s."""
        with self._lock:
            if self._parent_pipe is not None:
                with contextlib.suppress(OSError):
                    os.close(self._parent_pipe)
                self._parent_pipe = None
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            # whatever is left of the group (forkserver, workers) goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5.0)
            _running.discard(self)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit code {self.process.returncode})"
        return f"<SimulatorHandle {self.url} pid={self.pid} {state}>"


_OPTION_FLAGS = {
    "max_protocols": "--max-protocols",
    "analysis_timeout": "--analysis-timeout",
    "speed": "--speed",
    "max_api_level": "--max-api-level",
    "data_dir": "--data-dir",
    "max_upload_mb": "--max-upload-mb",
    "spare_workers": "--spare-workers",
    "analysis_cache": "--analysis-cache",
    "analysis_cache_mb": "--analysis-cache-mb",
    "log_level": "--log-level",
    "robot_software": "--robot-software",
    "mqtt_broker": "--mqtt-broker",
    "left": "--left",
    "right": "--right",
    "stop_delay": "--stop-delay",
}
_SWITCHES = {"robot_like": "--robot-like"}


def _hardware_argument(value: Any) -> str:
    """``hardware=`` is a preset name, a JSON file's path, or the file's content as a dict
    (written to a temporary file for the child)."""
    if isinstance(value, dict):
        import json

        with tempfile.NamedTemporaryFile(
            "w", prefix="ot2-sim-hardware-", suffix=".json", delete=False, encoding="utf-8"
        ) as file:
            json.dump(value, file)
        return file.name
    return str(value)


def _arguments(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in options.items():
        if name == "protocol_sessions":
            if not value:
                args.append("--no-protocol-sessions")
        elif name == "session_events":
            if not value:
                args.append("--no-session-events")
        elif name in _SWITCHES:
            if value:
                args.append(_SWITCHES[name])
        elif name == "hardware":
            if value is not None:
                args += ["--hardware", _hardware_argument(value)]
        elif name == "modules":
            if isinstance(value, str):
                raise TypeError("start(modules=...) takes a list of module models, not one string")
            for model in value if value is not None else ():
                args += ["--module", str(model)]
            if value is not None and not value:
                args += ["--module", "none"]
        elif name == "allow_hosts":
            if isinstance(value, str):
                raise TypeError("start(allow_hosts=...) takes a list of names, not one string")
            for host in value or ():
                args += ["--allow-host", str(host)]
        elif name in _OPTION_FLAGS:
            if value is not None:
                args += [_OPTION_FLAGS[name], str(value)]
        else:
            known = ", ".join(
                sorted(
                    [
                        *_OPTION_FLAGS,
                        *_SWITCHES,
                        "allow_hosts",
                        "hardware",
                        "modules",
                        "protocol_sessions",
                        "session_events",
                    ]
                )
            )
            raise TypeError(f"start() got an unknown option {name!r}; known options: {known}")
    return args


def start(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 120.0,
    python: str | None = None,
    command: str | Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> SimulatorHandle:
    args = _arguments(options)
    choice = resolve_simulator(python=python, command=command, progress=progress)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise SimulatorError(
            f"Cannot listen on {host} port {port}: {exc.strerror or exc}. Another simulator or "
            "robot server may be using it; use port=0 to pick a free port."
        ) from exc
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}"
    read_end, write_end = os.pipe()
    log_file = tempfile.NamedTemporaryFile(prefix="ot2-sim-", suffix=".log", delete=False)
    argv = [
        *choice.command,
        "--host",
        host,
        "--fd",
        str(sock.fileno()),
        "--parent-pipe",
        str(read_end),
        *args,
    ]
    try:
        process = subprocess.Popen(
            argv,
            pass_fds=(sock.fileno(), read_end),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        os.close(write_end)
        raise SimulatorError(
            f"Could not run the simulated robot ({exc.strerror or exc}).\n{choice.describe()}"
        ) from exc
    finally:
        sock.close()
        os.close(read_end)
        log_file.close()
    handle = SimulatorHandle(process, url, Path(log_file.name), write_end, choice)
    _running.add(handle)
    try:
        _wait_until_ready(handle, startup_timeout)
    except BaseException:
        handle.stop(timeout=2.0)
        raise
    return handle


def _wait_until_ready(handle: SimulatorHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        while True:
            try:
                reply = http.get(
                    f"{handle.url}/health", headers={"Opentrons-Version": "*"}, timeout=5
                )
                if reply.status_code == 200:
                    return
            except requests.RequestException:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulatorError(
                    f"The simulated robot did not answer within {timeout:g} s.\n"
                    f"Its log ({handle.log_path}):\n{handle.log_tail()}\n{_which(handle)}"
                )
            try:  # wait for the process to exit, or for the next attempt
                code = handle.process.wait(timeout=min(0.05, remaining))
            except subprocess.TimeoutExpired:
                continue
            raise SimulatorError(
                f"The simulated robot exited during start-up (exit code {code}).\n"
                f"Its log ({handle.log_path}):\n{handle.log_tail()}\n{_which(handle)}"
            )


def _which(handle: SimulatorHandle) -> str:
    return handle.simulator.describe() if handle.simulator is not None else ""


@atexit.register
def _stop_all() -> None:
    for handle in list(_running):
        handle.stop(timeout=5.0)
