"""A worker process killed from outside, mid-analysis and mid-run, against a real ``ot2-sim``.

The worker doing a job is found by what it is doing, not by guessing: a worker runs a job
with the protocol's folder as its working directory (``<data>/protocols/<id>`` while
analysing an upload, ``<data>/sessions/<session id>`` while loading or running a session),
so exactly that process is killed with SIGKILL, as the kernel's OOM killer or a user's
``kill -9`` would. The job must end in a clean, explained error (``SimulationProcessExited``),
nothing else may be disturbed, a fresh worker must serve the next job, and the pool must
settle back to its spare workers with no orphan left.

(``test_sim_analysis.py::test_killed_worker_gives_a_clean_run_error_and_a_fresh_worker`` kills
every worker at once during a run; these tests kill only the job's own worker and check
what else survives.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import Api, wait_until

SPARES = 2


@pytest.fixture(scope="module")
def fault_sim() -> Iterator[SimulatorHandle]:
    # a long analysis timeout: the kill, not the timeout, must end the endless analysis
    with start(port=0, max_protocols=20, analysis_timeout=120, spare_workers=SPARES) as handle:
        yield handle


@pytest.fixture
def robot(fault_sim: SimulatorHandle) -> Iterator[Api]:
    with Api(fault_sim.url) as api:
        yield api
        api.clean()


def forkserver(handle: SimulatorHandle) -> psutil.Process:
    [server_child] = [
        child
        for child in psutil.Process(handle.pid).children()
        if "multiprocessing.forkserver" in " ".join(child.cmdline())
    ]
    return server_child


def live_workers(handle: SimulatorHandle) -> list[psutil.Process]:
    """The forkserver's children that are running (reaped or zombie ones are not)."""
    workers = []
    for worker in forkserver(handle).children():
        try:
            if worker.status() != psutil.STATUS_ZOMBIE:
                workers.append(worker)
        except psutil.NoSuchProcess:
            continue
    return workers


def worker_in(handle: SimulatorHandle, folder_suffix: str) -> psutil.Process | None:
    """The worker whose working directory is the job's folder, if it has started."""
    for worker in live_workers(handle):
        try:
            if Path(worker.cwd()).as_posix().endswith(folder_suffix):
                return worker
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def wait_for_spares_only(handle: SimulatorHandle, killed: psutil.Process) -> None:
    """The pool settles to exactly its spares; the killed worker is reaped, not a zombie."""
    wait_until(
        lambda: len(live_workers(handle)) == SPARES,
        timeout=30,
        message=lambda: f"workers after the job: {[w.pid for w in live_workers(handle)]}",
    )
    wait_until(
        lambda: (
            not psutil.pid_exists(killed.pid)
            or killed.pid not in {c.pid for c in forkserver(handle).children()}
        ),
        timeout=10,
        message=f"the killed worker {killed.pid} was never reaped",
    )


def test_a_worker_killed_mid_analysis_gives_a_clean_analysis_error(
    fault_sim: SimulatorHandle, robot: Api
) -> None:
    robot.upload("moves.py")  # a protocol already stored must survive the kill untouched
    answer: dict[str, Any] = {}
    uploading = threading.Thread(
        target=lambda: answer.update(robot_upload(fault_sim, "loops_forever.py")), daemon=True
    )
    uploading.start()
    victim = wait_until(
        lambda: worker_in(fault_sim, "/protocols/loops_forever"),
        timeout=30,
        message="no worker took the analysis of loops_forever.py",
    )
    victim.kill()
    uploading.join(timeout=30)
    assert not uploading.is_alive(), "the upload did not answer after its worker was killed"

    assert answer["status"] == 201, answer  # errors are data: the protocol is stored
    [error] = answer["body"]["data"]["errors"]
    assert error["type"] == "SimulationProcessExited"
    assert "killed by signal 9" in error["description"]
    assert "os._exit()" in error["description"]  # says what a protocol must not do

    listed = {p["id"] for p in robot.get("/protocols").json()["data"]}
    assert listed == {"moves", "loops_forever"}
    assert robot.get("/protocols/moves").json()["data"]["errors"] == []

    # a fresh worker serves the next analysis, and the pool settles with no orphan
    assert (
        robot.upload("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")["data"][
            "errors"
        ]
        == []
    )
    wait_for_spares_only(fault_sim, victim)


def test_a_worker_killed_mid_run_gives_a_clean_run_error(
    fault_sim: SimulatorHandle, robot: Api
) -> None:
    robot.upload("long_run.py")
    session_id = robot.create_session("long_run")
    robot.wait_for_state(session_id, "loaded")
    assert robot.command(session_id, "protocol.startRun").status_code == 200
    robot.wait_for_state(session_id, "running")
    # the run's worker has started once the run logs steps beyond the load's
    loaded_steps = len(steps_ended(robot, session_id))
    wait_until(
        lambda: len(steps_ended(robot, session_id)) > loaded_steps,
        timeout=30,
        message="the run logged no step",
    )
    victim = wait_until(
        lambda: worker_in(fault_sim, f"/sessions/{session_id}"),
        timeout=30,
        message="no worker runs the session",
    )
    victim.kill()

    failed = robot.wait_for_state(session_id, "error", timeout=30)
    [error] = failed["details"]["errors"]
    assert error["type"] == "SimulationProcessExited"
    assert "killed by signal 9" in error["description"]
    # the session is in a terminal state: nothing more runs in it
    refused = robot.command(session_id, "protocol.startRun")
    assert refused.status_code == 403
    assert "during state 'error'" in refused.json()["errors"][0]["detail"]

    # a new session of the same protocol loads and runs in fresh workers
    robot.delete(f"/sessions/{session_id}")
    again = robot.create_session("long_run")
    robot.wait_for_state(again, "loaded")
    assert robot.command(again, "protocol.startRun").status_code == 200
    wait_until(
        lambda: (
            worker_in(fault_sim, f"/sessions/{again}") is not None
            and len(steps_ended(robot, again)) >= 3
        ),
        timeout=30,
        message="the new run made no progress",
    )
    assert robot.state(again) == "running"
    assert robot.delete(f"/sessions/{again}").status_code == 200  # cancels the run
    wait_for_spares_only(fault_sim, victim)


def steps_ended(robot: Api, session_id: str) -> list[dict[str, Any]]:
    events = robot.session(session_id)["details"]["events"]
    return [e for e in events if e["source"] == "protocol" and e["event"].endswith(".end")]


def robot_upload(handle: SimulatorHandle, name: str) -> dict[str, Any]:
    """An upload from a thread of its own (its own connection); status and body."""
    with Api(handle.url) as api:
        reply = api.post("/protocols", files=[("protocolFile", _file(name))], timeout=120)
        return {"status": reply.status_code, "body": reply.json()}


def _file(name: str) -> tuple[str, bytes]:
    path = Path(__file__).resolve().parent / "protocols" / name
    return (path.name, path.read_bytes())
