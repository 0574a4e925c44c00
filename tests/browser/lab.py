"""A real Jupyter server for browser tests, with either front end: JupyterLab 4
(``frontend="lab"``) or Notebook 7 (``frontend="notebook"``, its own URLs: ``/tree``,
``/notebooks/PATH``). Started on a free loopback port with a token, isolated from the user's
Jupyter configuration, stopped with every process it started.

Why each choice:

* ``sys.executable -m jupyterlab`` (or ``-m notebook``): the server runs in the test's
  environment (the newest JupyterLab and Notebook: the kernel side has no opentrons pins), and
  jupyter_client starts the ``python3`` kernel with that same interpreter (a kernelspec
  whose ``argv[0]`` is ``python`` means "the server's own Python"), so the notebook imports
  the ``ot2_notebook`` under test.
* Private ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``, ``JUPYTER_RUNTIME_DIR`` and
  JupyterLab settings and workspaces folders: a user's kernelspecs, saved layouts or
  settings cannot change what the test sees. The announcements plugin (a "receive news?"
  toast that covers part of the page) is disabled there.
* ``--allow-root`` (CI runs as root) and ``expose_app_in_browser`` (``window.jupyterapp``,
  in both front ends: the tests open and run cells through the front end's own commands, as
  JupyterLab's Galata test framework does).
* The simulator comes from ``OT2_SIM_PYTHON`` (inherited from the test run, see
  ``tests/conftest.py``), as in any notebook.
* A port picked free just before the start with ``port_retries=0``: a server that lost the
  race for it exits at once and is started again on another port.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import requests

__all__ = ["FRONTENDS", "JupyterLab", "LabStartError", "running_lab"]

# A "Would you like to receive official Jupyter news?" toast would cover the page.
_PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


class LabStartError(RuntimeError):
    """JupyterLab did not start; the message ends with the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the server may still lose it: see above)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class JupyterLab:
    """A running JupyterLab server (see the module doc). Build it with :func:`running_lab`."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        token: str,
        root_dir: Path,
        log: Path,
        frontend: str = "lab",
    ) -> None:
        self.process = process
        self.frontend = frontend
        self.port = port
        self.token = token
        self.root_dir = root_dir
        self.log_path = log
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str) -> str:
        """The URL that opens notebook ``path`` (relative to the root dir) in this front end:
        ``/lab/tree/PATH`` in JupyterLab, ``/notebooks/PATH`` in Notebook 7."""
        where = "notebooks" if self.frontend == "notebook" else "lab/tree"
        return f"{self.base_url}/{where}/{path}?token={self.token}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to the server's REST API (``/api/...``) with the token."""
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, f"{self.base_url}{path}", **kwargs)

    def kernels(self) -> list[dict[str, Any]]:
        response = self.api("GET", "/api/kernels")
        response.raise_for_status()
        return list(response.json())

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise LabStartError(
                f"JupyterLab exited with code {self.process.returncode} while starting on port "
                f"{self.port}. Its log ({self.log_path}):\n{self.log_tail()}"
            )
        try:
            return self.api("GET", "/api/status", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float) -> None:
        """Wait until the REST API answers (polling, bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while not self._ready():
            if time.monotonic() > deadline:
                raise LabStartError(
                    f"JupyterLab did not answer on {self.base_url} within {timeout:g} s. Its "
                    f"log ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, timeout: float = 20.0) -> list[int]:
        """Shut the server down (its kernels, and what they started, with it).

        Asks politely first (``POST /api/shutdown`` stops every kernel; a kernel started by
        ``%ot2_connect --simulate`` stops its simulated robot), then terminates whatever
        is left of the processes the server started. Returns the pids that had to be
        killed (an empty list when the shutdown was clean).
        """
        try:
            family = [self.process.pid, *(p.pid for p in self._descendants())]
        except psutil.Error:
            family = [self.process.pid]
        if self.process.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)
            except requests.RequestException:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
        self.http.close()
        return _reap(family[1:], timeout=10.0)

    def _descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def _reap(pids: list[int], timeout: float) -> list[int]:
    """Wait for ``pids`` (processes this server started) to end; terminate, then kill, the
    ones that do not. Returns those that had to be ended."""
    alive = []
    for pid in pids:
        try:
            alive.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(alive, timeout=timeout)
    ended = [p.pid for p in alive]
    for proc in alive:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(alive, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return ended


def _environment(home: Path) -> dict[str, str]:
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(_PAGE_CONFIG))
    env = dict(os.environ)
    env.update({name: str(path) for name, path in dirs.items()})
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    # The environment's scripts first, as `source .venv/bin/activate` would do.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


FRONTENDS = ("lab", "notebook")


def _command(port: int, token: str, root_dir: Path, frontend: str) -> list[str]:
    if frontend == "lab":
        app = [
            "jupyterlab",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
    elif frontend == "notebook":
        app = ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"]
    else:
        raise ValueError(f"frontend must be one of {FRONTENDS}, not {frontend!r}")
    return [
        sys.executable,
        "-m",
        *app,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
    ]


@contextmanager
def running_lab(
    root_dir: Path,
    home: Path,
    log: Path,
    *,
    frontend: str = "lab",
    startup_timeout: float = 90.0,
    attempts: int = 3,
) -> Iterator[JupyterLab]:
    """Start JupyterLab (or Notebook 7: ``frontend="notebook"``) serving ``root_dir``; stop
    it (and all it started) on exit.

    ``home`` holds its private Jupyter folders; its output goes to ``log``.
    """
    env = _environment(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    lab: JupyterLab | None = None
    for attempt in range(1, attempts + 1):
        port, token = free_port(), secrets.token_hex(16)
        with log.open("ab") as out:
            out.write(f"--- starting {frontend} on port {port} (attempt {attempt})\n".encode())
            out.flush()
            process = subprocess.Popen(
                _command(port, token, root_dir, frontend),
                cwd=root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        lab = JupyterLab(process, port, token, root_dir, log, frontend)
        try:
            lab.wait_ready(startup_timeout)
            break
        except LabStartError:
            lab.stop()
            lab = None
            port_taken = "address already in use" in _tail(log, 15).lower()
            if attempt == attempts or not port_taken:
                raise
    assert lab is not None
    try:
        yield lab
    finally:
        leftover = lab.stop()
        if leftover:
            warnings.warn(
                f"JupyterLab's shutdown left processes running (pids {leftover}); they were "
                "terminated. A kernel should stop what it started (e.g. %ot2_connect "
                "--simulate's robot) when it shuts down.",
                stacklevel=2,
            )
