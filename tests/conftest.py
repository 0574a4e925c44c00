"""Shared fixtures: real simulated robots in child processes, and plain HTTP access to them.

* ``sim``: one simulator for the whole test run (many protocols allowed);
  ``robot_url`` is its URL. Tests that use it should also use ``clean_robot``;
  ``robot`` is a ``RobotClient`` for it that does both.
* ``start_sim(**options)``: a simulator with other options (feature flag off, no session
  events, ``speed``...), stopped when the test ends.
* ``api``: a ``requests`` session for ``sim`` that sends ``Opentrons-Version: 2`` and
  prefixes the base URL, for tests of the wire protocol itself.

Which simulator: the tests run in the kernel's environment (no opentrons) and start every
simulator from the simulator's own environment, as notebooks do: ``OT2_SIM_PYTHON``
(``make`` exports ``.venv-sim``'s), else this environment if it has the server, else the
repository's ``.venv-sim``. They never set one up in the user's cache: with none of these,
the run stops at once and says so. ``sim_command()`` is the argv that runs the simulator's
command line (``python -m ot2_notebook.simulator``'s equivalent) for tests of the command.
The ``user_env`` test (``make test-user-env``) is deselected unless ``-m`` names it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import SimulatorHandle, find_simulator, start
from ot2_notebook.simulator.environment import ENV_COMMAND, ENV_PYTHON, can_run_server

ROOT = Path(__file__).resolve().parents[1]
REPO_SIM_PYTHON = ROOT / ".venv-sim" / "bin" / "python"

EXAMPLES = PROTOCOLS = Path(__file__).resolve().parent / "protocols"
DILUTION = PROTOCOLS / "serial_dilution.py"
DILUTION_SUPPORT = [PROTOCOLS / "dilution_helpers.py", PROTOCOLS / "dilution_settings.json"]
VERSION = {"Opentrons-Version": "2"}


class Api(requests.Session):
    """``requests`` against one robot: relative paths, the version header by default."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.headers.update(VERSION)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, *args, **kwargs)

    # -- conveniences used across tests ------------------------------------------------
    def upload(
        self, protocol: str | Path, *support: str | Path, expect: int = 201
    ) -> dict[str, Any]:
        files = [("protocolFile", _file(protocol))]
        files += [("supportFiles", _file(s)) for s in support]
        reply = self.post("/protocols", files=files)
        assert reply.status_code == expect, reply.text
        return reply.json()

    def create_session(self, protocol_id: str) -> str:
        reply = self.post(
            "/sessions",
            json={"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}},
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["data"]["id"])

    def command(self, session_id: str, command: str) -> requests.Response:
        return self.post(
            f"/sessions/{session_id}/commands/execute",
            json={"data": {"command": command, "data": {}}},
        )

    def session(self, session_id: str) -> dict[str, Any]:
        reply = self.get(f"/sessions/{session_id}")
        assert reply.status_code == 200, reply.text
        return dict(reply.json()["data"])

    def state(self, session_id: str) -> str:
        return str(self.session(session_id)["details"]["currentState"])

    def wait_for_state(
        self, session_id: str, *wanted: str, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll until the session is in one of ``wanted``; fail with the last state seen."""
        return wait_until(
            lambda: (s := self.session(session_id))["details"]["currentState"] in wanted and s,
            timeout=timeout,
            message=lambda: (
                f"session {session_id} never reached {wanted}; it is {self.state(session_id)!r}"
            ),
        )

    def clean(self) -> None:
        for session in self.get("/sessions").json()["data"]:
            self.delete(f"/sessions/{session['id']}")
        for protocol in self.get("/protocols").json()["data"]:
            self.delete(f"/protocols/{protocol['id']}")


def pytest_configure(config: pytest.Config) -> None:
    """Pin the simulator the tests start (see the module doc), for this process and for the
    kernels and subprocesses it starts (they inherit the environment variable)."""
    if os.environ.get(ENV_PYTHON) or os.environ.get(ENV_COMMAND) or can_run_server():
        return
    if REPO_SIM_PYTHON.exists():
        os.environ[ENV_PYTHON] = str(REPO_SIM_PYTHON)
        return
    raise pytest.UsageError(
        f"The tests need the simulator's environment: run them with `make test` (it builds "
        f"{REPO_SIM_PYTHON.parent.parent}), or set {ENV_PYTHON} to a python that has "
        "'ot2-notebook[sim]'. They never set one up in your cache folder."
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``user_env`` tests build a whole Jupyter environment: only when ``-m`` names them."""
    if "user_env" in (config.option.markexpr or ""):
        return
    keep = [item for item in items if item.get_closest_marker("user_env") is None]
    dropped = [item for item in items if item.get_closest_marker("user_env") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def sim_command() -> list[str]:
    """The argv that runs the simulator's command line, from the simulator's environment."""
    return list(find_simulator().command)


#: The Content-Type of :func:`chunked_upload`'s body.
CHUNKED_UPLOAD_TYPE = {"Content-Type": "multipart/form-data; boundary=xyz"}


def chunked_upload(field: str, megabytes: float = 2.5) -> Iterator[bytes]:
    """A multipart body of one file ``big.py`` in ``field``, in 64 KiB chunks: sent from a
    generator, it goes without a Content-Length, so a server can only count it as it reads."""
    yield b"--xyz\r\n"
    yield f'Content-Disposition: form-data; name="{field}"; filename="big.py"\r\n\r\n'.encode()
    for _ in range(int(megabytes * 16)):
        yield b"#" * 65536
    yield b"\r\n--xyz--\r\n"


def _file(item: str | Path) -> tuple[str, bytes]:
    path = Path(item)
    if not path.is_absolute():
        path = EXAMPLES / path
    return (path.name, path.read_bytes())


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.01,
    message: Callable[[], str] | str = "condition not met",
) -> Any:
    """Return the first truthy value of ``condition()``, polling until ``timeout``.

    This is a wait on a condition (with a bounded poll interval), not a sleep standing in
    for one: it returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


@pytest.fixture(scope="session")
def sim() -> Iterator[SimulatorHandle]:
    with start(port=0, max_protocols=100, analysis_timeout=20) as handle:
        yield handle


@pytest.fixture(scope="session")
def robot_url(sim: SimulatorHandle) -> str:
    return sim.url


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[Api]:
    with Api(sim.url) as session:
        yield session


@pytest.fixture
def robot(robot_url: str, clean_robot: None) -> Iterator[RobotClient]:
    """A client for the shared simulator, left empty after the test."""
    with RobotClient(robot_url) as client:
        yield client


@pytest.fixture
def clean_robot(sim: SimulatorHandle) -> Iterator[None]:
    """The shared simulator empty when the test starts, and left empty after it.

    Emptied before as well: the tests that take the ``api`` fixture alone leave their
    protocols and sessions on the shared simulator (their ids are their own), and which test
    file an xdist worker ran before this one changes from run to run (``--dist loadfile``);
    a test that counts what is on the robot must not count theirs (seen in CI: two sessions
    where the test made one)."""
    with Api(sim.url) as session:
        session.clean()
    yield
    with Api(sim.url) as session:
        session.clean()


@pytest.fixture(scope="session")
def _sims_by_hardware() -> Iterator[dict[tuple[str | None, str | None], SimulatorHandle]]:
    handles: dict[tuple[str | None, str | None], SimulatorHandle] = {}
    yield handles
    for handle in handles.values():
        handle.stop()


@pytest.fixture
def robot_with(
    _sims_by_hardware: dict[tuple[str | None, str | None], SimulatorHandle],
) -> Iterator[Callable[..., RobotClient]]:
    """``robot_with(left=..., right=...)``: a client for a simulator shared by the session
    whose mounts hold these pipettes (the tutorials' hardware otherwise): a protocol for other
    pipettes than the default hardware's runs there, as on a robot that has them. Left empty
    after the test."""
    used: list[tuple[RobotClient, SimulatorHandle]] = []

    def factory(*, left: str | None = None, right: str | None = None) -> RobotClient:
        key = (left, right)
        if key not in _sims_by_hardware:
            _sims_by_hardware[key] = start(
                port=0, max_protocols=100, analysis_timeout=20, left=left, right=right
            )
        handle = _sims_by_hardware[key]
        client = RobotClient(handle.url)
        used.append((client, handle))
        return client

    yield factory
    for client, handle in used:
        client.close()
        with Api(handle.url) as session:
            session.clean()


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorHandle]]:
    handles: list[SimulatorHandle] = []

    def factory(**options: Any) -> SimulatorHandle:
        handle = start(port=0, **options)
        handles.append(handle)
        return handle

    yield factory
    for handle in handles:
        handle.stop()
