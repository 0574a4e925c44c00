"""The software-8 simulator's worker management: a run's worker is reaped exactly once, runs
created back to back all get a working worker, and a worker that fails says why (in the
answer and in the simulator's log).

History: ``POST /runs`` failed now and then with 422 "the simulation process closed its
connection". A run's worker was reaped by two threads at once (the run's reader, when the
worker exited after handing its run over, and the request that cleared the run); both
closed the pipe's file descriptor, and the second ``close`` closed the pipe of the worker
just forked for the next run, which had been given the same number.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ot2_notebook.simulator import start
from ot2_notebook.simulator.workers.pool import Worker

VERSION = {"Opentrons-Version": "*"}
BREAK_OPENTRONS = Path(__file__).resolve().parent / "support" / "break_opentrons"


def test_a_worker_ended_by_a_second_thread_mid_reap_is_reaped_once() -> None:
    """A second ``kill()`` that arrives while the first is closing the pipe (the worst moment:
    the pipe's descriptor is about to be freed for reuse) closes nothing and tells the pool
    nothing; the interleaving is forced by making the first close start the second kill.
    Robot software 4's and 8's workers are the same ``Worker``."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=True)
    process = context.Process(target=time.sleep, args=(120,), daemon=True)
    process.start()
    child_end.close()
    worker = Worker(process, parent_end)
    ended: list[str] = []
    worker.on_end = lambda: ended.append(threading.current_thread().name)
    closes: list[int] = []
    close_pipe = parent_end._close  # type: ignore[attr-defined]

    def close_once_more_meanwhile() -> None:
        closes.append(parent_end.fileno())
        if len(closes) == 1:
            worker.kill()  # another reaper, between "still open?" and the descriptor's close
        close_pipe()

    parent_end._close = close_once_more_meanwhile  # type: ignore[attr-defined]
    try:
        worker.kill()
        assert len(closes) == 1, f"the pipe was closed {len(closes)} times: {closes}"
        assert len(ended) == 1, f"the pool was told {len(ended)} times that the job ended"
        assert not process.is_alive() and process.exitcode is not None
        worker.kill_soon()  # and later ones, from any thread, do nothing either
        worker.kill()
        assert len(closes) == 1 and len(ended) == 1
    finally:
        if process.is_alive():
            process.kill()
        process.join(timeout=10)


@pytest.fixture(scope="module")
def sim() -> Any:
    with start(
        port=0, robot_software=8, analysis_timeout=60, mqtt_broker="none", spare_workers=2
    ) as handle:
        yield handle


def test_empty_runs_created_back_to_back_each_get_a_working_worker(sim: Any) -> None:
    """Recording 04 creates 22 runs in a row; each replaces (clears) the one before, whose
    worker ends while the next is forked. Every one must be created, and the simulator's log
    must show no worker failing (the race above failed a run now and then: a regression guard,
    not a proof)."""
    with requests.Session() as http:
        http.headers.update(VERSION)
        answers = [http.post(f"{sim.url}/runs", json={"data": {}}, timeout=120) for _ in range(40)]
        failed = [(a.status_code, a.text[:300]) for a in answers if a.status_code != 201]
        assert not failed, failed
        runs = http.get(f"{sim.url}/runs", timeout=60).json()
        assert runs["links"]["current"]["href"].endswith(answers[-1].json()["data"]["id"])
        for run in runs["data"]:
            assert http.delete(f"{sim.url}/runs/{run['id']}", timeout=60).status_code == 200
    log = sim.log_path.read_text(errors="replace")
    assert "simulation process" not in log, sim.log_tail(40)


def test_a_worker_failing_to_set_a_run_up_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's own code fails in the worker (opentrons' ``build_orchestrator`` broken
    in every process of the simulator): the answer is a 500 naming the error, not a 422
    blaming the protocol or "closed its connection", and the simulator's log has the
    worker's traceback."""
    monkeypatch.setenv("PYTHONPATH", str(BREAK_OPENTRONS))
    monkeypatch.setenv("OT2_SIM_TEST_BREAK", "run-orchestrator")
    with start(port=0, robot_software=8, mqtt_broker="none", spare_workers=1) as handle:
        answer = requests.post(
            f"{handle.url}/runs", json={"data": {}}, headers=VERSION, timeout=120
        )
        assert answer.status_code == 500, answer.text
        error = answer.json()["errors"][0]
        assert error["id"] == "UnexpectedError", error
        detail = error["detail"]
        assert "could not set the run up" in detail, detail
        assert "RuntimeError: build_orchestrator broken by tests/support/break_opentrons" in (
            detail
        ), detail
        assert "not the protocol's" in detail and "closed its connection" not in detail, detail
        runs = requests.get(f"{handle.url}/runs", headers=VERSION, timeout=60).json()
        assert runs["data"] == [] and "current" not in runs.get("links", {}), runs
        log = handle.log_path.read_text(errors="replace")
    assert "the RunJob failed" in log and "Traceback (most recent call last)" in log, log[-3000:]
    assert "in _broken_build" in log, log[-3000:]
    assert "failed while the run was set up: the simulation process failed: RuntimeError" in (
        log
    ), log[-3000:]
