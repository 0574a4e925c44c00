"""The executor worker's end of its analysis host (``host.py``): start, ask, stop.

One host per process and memory bound, shared by the process's threads and started on
first use, so an executor worker pays the opentrons import once, however many protocols
it analyses. Requests from several threads travel over one socket and are matched to
their answers by id. A host that dies or stops answering is replaced on the next request;
the requests it held fail with ``HostError`` (the batch reports them as errors of the
analysis machinery, not of the protocols).
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import IO, Any

from ot2_notebook.simulator.batch import host as protocol
from ot2_notebook.simulator.environment import simulator_interpreter

#: How long a host may take to start: an interpreter, then the forkserver importing
#: opentrons (1.5 s on an idle machine; much longer when every core is busy).
STARTUP_TIMEOUT = 180.0
#: Beyond a request's own timeout, how long to wait for the host's answer before giving up
#: on the host (it kills a hung protocol itself at the timeout).
ANSWER_GRACE = 60.0


#: How the host starts: with ``-c``, not ``-m``. multiprocessing re-runs a ``-m`` main
#: module as ``__mp_main__`` in every process its forkserver forks (13 ms of CPU per
#: protocol here); a ``-c`` main has nothing to re-run.
_HOST_MAIN = "import sys; from ot2_notebook.simulator.batch.host import main; sys.exit(main())"


#: A process group of its own (stop() ends all of it, a terminal's Ctrl-C reaches only the
#: batch, which stops its hosts), in the caller's session: with the kernel's autogroup
#: scheduling a new session would give a batch the CPU share of another login. Python 3.10
#: has no ``process_group``; there the host makes its group itself (``host.main``).
_OWN_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {}


class HostError(Exception):
    """The analysis host could not be started, died, or stopped answering."""


class HostBroken(HostError):
    """The host started but cannot simulate (no opentrons): trying again cannot help."""


@dataclass(frozen=True)
class HostSettings:
    memory_limit_mb: int = 2048
    spares: int = 2
    warm_spares: bool = False


class AnalysisHost:
    """A running ``host.py`` process and the requests waiting for its answers."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closed = False
        self._stderr: IO[bytes] = tempfile.TemporaryFile(prefix="ot2-sim-batch-host-")
        # the host imports opentrons: it runs in the simulator's environment, whichever
        # environment (and executor worker) calls the batch
        self.python = simulator_interpreter()
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [
                    self.python,
                    "-c",
                    _HOST_MAIN,
                    "--fd",
                    str(theirs.fileno()),
                    "--memory-limit-mb",
                    str(settings.memory_limit_mb),
                    "--spares",
                    str(settings.spares),
                    *(["--warm-spares"] if settings.warm_spares else []),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                **_OWN_GROUP,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.info = self._wait_ready()
        self._reader = threading.Thread(target=self._read, name="analysis-host", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._closed and self.process.poll() is None

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines()[-3:]]
        return (": " + " / ".join(lines)) if lines else ""

    def _wait_ready(self) -> dict[str, Any]:
        """The host's ``ready`` message, or ``HostError`` saying why it never came."""
        problem = None
        try:
            if self.conn.poll(STARTUP_TIMEOUT):
                message = self.conn.recv()
                if message[0] == protocol.READY:
                    return dict(message[1])
                self.stop()
                raise HostBroken(
                    f"the analysis host cannot analyse: {message[1]} (is opentrons installed "
                    f"for {self.python}?){self._stderr_tail()}"
                )
            else:
                problem = f"the analysis host did not start within {STARTUP_TIMEOUT:g} s"
        except (EOFError, OSError):
            try:
                code = self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            problem = (
                f"the analysis host exited with code {code} while starting (is opentrons "
                f"installed for {self.python}?){self._stderr_tail()}"
            )
        self.stop()
        raise HostError(problem)

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            kind, request_id, body = message
            with self._lock:
                future = self._pending.pop(request_id, None)
            if future is None:
                continue
            if kind == protocol.RESULT:
                future.set_result(body)
            else:
                future.set_exception(HostError(f"the analysis host failed: {body}"))
        self._fail_pending("the analysis host exited")

    def _fail_pending(self, why: str) -> None:
        code = self.process.poll()
        detail = f" (exit code {code})" if code is not None else ""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(HostError(f"{why}{detail}{self._stderr_tail()}"))

    def analyse(
        self,
        protocol_file: str,
        files: tuple[tuple[str, bytes], ...],
        timeout: float,
        max_api_level: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """The host's outcome for one bundle (see ``host.Host.analyse``); ``HostError``."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._closed:
                raise HostError("the analysis host has exited")
            request_id = next(self._ids)
            self._pending[request_id] = future
        message = (protocol.ANALYSE, request_id, protocol_file, files, timeout, max_api_level)
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, EOFError) as exc:
            with self._lock:
                self._pending.pop(request_id, None)
            raise HostError(f"the analysis host is gone: {exc}") from None
        try:
            return future.result(timeout + ANSWER_GRACE)
        except FutureTimeout:
            self.stop()
            raise HostError(
                f"the analysis host did not answer within {timeout + ANSWER_GRACE:g} s; "
                "it was stopped and a new one takes the next protocol"
            ) from None

    def stop(self) -> None:
        """End the host and everything it started (idempotent)."""
        self._closed = True
        try:
            with self._send_lock:
                self.conn.send((protocol.STOP,))
        except (OSError, EOFError, ValueError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # its group: forkserver and workers
        except (ProcessLookupError, PermissionError):  # no group (yet): the host alone
            self.process.kill()
        self.process.wait()
        try:
            self.conn.close()
        except OSError:
            pass


_hosts: dict[HostSettings, AnalysisHost] = {}
_broken: dict[HostSettings, HostBroken] = {}
_hosts_lock = threading.Lock()


def shared_host(settings: HostSettings) -> AnalysisHost:
    """This process's host for ``settings``, started (or restarted) when needed; a host that
    cannot simulate is not started again (every protocol gets the same ``HostBroken``)."""
    with _hosts_lock:
        if settings in _broken:
            raise _broken[settings]
        found = _hosts.get(settings)
        if found is not None and found.alive:
            return found
        if found is not None:
            found.stop()
        try:
            started = AnalysisHost(settings)
        except HostBroken as exc:
            _broken[settings] = exc
            raise
        _hosts[settings] = started
        return started


def stop_hosts() -> None:
    """Stop this process's hosts (at exit; also when an executor worker is reused)."""
    with _hosts_lock:
        hosts = list(_hosts.values())
        _hosts.clear()
    for found in hosts:
        found.stop()


def _forget_inherited_hosts() -> None:
    """In a forked child: the parent's hosts are the parent's; close our copies of their
    sockets so that a host still sees its end close when the parent exits."""
    global _hosts_lock
    _hosts_lock = threading.Lock()
    for found in _hosts.values():
        try:
            found.conn.close()
        except OSError:
            pass
    _hosts.clear()
    _broken.clear()


os.register_at_fork(after_in_child=_forget_inherited_hosts)
atexit.register(stop_hosts)
