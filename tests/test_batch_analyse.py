"""Batch analysis with the real opentrons simulation: results equal single uploads to a real
ot2-sim, hanging and crashing protocols cost only themselves, any executor works."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook.simulator.batch import BatchResult, analyse, discover
from ot2_notebook.simulator.batch.discovery import read_bundle
from tests.conftest import PROTOCOLS, Api, wait_until
from tests.support.json_protocol import write_json_protocol

#: Protocols of tests/protocols whose analysis finishes quickly, passing and failing; their
#: support files are that folder's non-protocol files (helpers, settings, a labware).
QUICK = [
    "serial_dilution.py",
    "custom_labware.py",
    "magnetic_module.py",
    "temperature_module.py",
    "thermocycler_module.py",
    "pe_level.py",
    "moves.py",
    "raises.py",
    "syntax_error.py",
    "missing_import.py",
    "sys_exit.py",
    "fails_on_robot.py",
]


def copy_protocols(folder: Path, names: list[str], support: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    extra = ["dilution_helpers.py", "dilution_settings.json", "ot2nb_6_tuberack_5000ul.json"]
    for name in names + (extra if support else []):
        shutil.copy(PROTOCOLS / name, folder / name)
    return folder


def fields_of_upload(reply: dict[str, Any]) -> dict[str, Any]:
    keys = ("requiredEquipment", "metadata", "errors", "estimatedDuration")
    return {key: reply["data"][key] for key in keys}


@pytest.fixture(scope="module")
def quick_batch() -> BatchResult:
    paths = [PROTOCOLS / name for name in QUICK]
    return analyse(paths, timeout=20, progress=False)


def test_batch_results_equal_single_uploads_to_ot2_sim(
    quick_batch: BatchResult, api: Api, clean_robot: None, tmp_path: Path
) -> None:
    json_folder = tmp_path / "json"
    json_folder.mkdir()
    json_file = write_json_protocol(json_folder, "json_transfer", [("A1", "B1"), ("A2", "B2")])
    results = list(quick_batch) + list(analyse([json_file], progress=False))
    assert len(results) == len(QUICK) + 1
    sources = {s.path: s for s in discover([PROTOCOLS / n for n in QUICK] + [json_file])}
    for result in results:
        source = sources[Path(result.path)]
        bundle = read_bundle(source)
        reply = api.upload(Path(result.path), *source.support)
        assert [f["basename"] for f in reply["data"]["supportFiles"]] == list(bundle.support_files)
        assert result.analysis == fields_of_upload(reply), result.protocol
        api.delete(f"/protocols/{reply['data']['id']}")
    passed = {Path(r.path).name for r in results if r.ok}
    assert passed == {
        "serial_dilution.py",
        "custom_labware.py",
        "magnetic_module.py",
        "temperature_module.py",
        "thermocycler_module.py",
        "pe_level.py",
        "moves.py",
        "fails_on_robot.py",
        "json_transfer.json",
    }


def test_errors_say_what_and_where(quick_batch: BatchResult) -> None:
    by_name = {Path(r.path).name: r for r in quick_batch}
    raises = by_name["raises.py"].error
    assert raises is not None
    assert raises["type"] == "ValueError"
    assert raises["message"] == "volume must be positive"
    assert raises["file"] == by_name["raises.py"].protocol  # the protocol's own path
    assert isinstance(raises["line"], int)
    syntax = by_name["syntax_error.py"].error
    assert syntax is not None and (syntax["type"], syntax["line"]) == ("SyntaxError", 3)
    missing = by_name["missing_import.py"].error
    assert missing is not None and missing["type"] == "ModuleNotFoundError"
    assert "reagent_tables" in missing["message"]
    dilution = by_name["serial_dilution.py"]
    assert dilution.ok and dilution.error is None
    assert dilution.support_files == (  # the folder's other files; its README is skipped
        "basic_transfer_config.json",
        "dilution_helpers.py",
        "dilution_settings.json",
        "helpers.py",
        "ot2nb_6_tuberack_5000ul.json",
    )
    assert dilution.steps > 0 and dilution.estimated_duration and dilution.estimated_duration > 0


def test_a_hanging_and_crashing_protocols_cost_only_themselves(tmp_path: Path) -> None:
    folder = copy_protocols(
        tmp_path / "lib",
        [
            *("loops_forever.py", "exits_at_import.py", "eats_memory.py", "sys_exit.py"),
            *("serial_dilution.py", "custom_labware.py"),
        ],
    )
    timeout = 4.0
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        started = time.monotonic()
        result = analyse([folder], pool, timeout=timeout, memory_limit_mb=512, progress=False)
        elapsed = time.monotonic() - started
        outcome = {Path(r.path).name: r for r in result}
        assert outcome["serial_dilution.py"].ok and outcome["custom_labware.py"].ok
        hung = outcome["loops_forever.py"]
        assert hung.outcome == "failed" and hung.error is not None
        assert hung.error["type"] == "AnalysisTimeout"
        assert f"within {timeout:g} s" in hung.error["message"]
        assert hung.analysis_seconds is not None
        assert timeout <= hung.analysis_seconds < timeout + 5
        exited = outcome["exits_at_import.py"].error
        assert exited is not None and exited["type"] == "SimulationProcessExited"
        assert "exited with code 3" in exited["message"]
        memory = outcome["eats_memory.py"].error
        assert memory is not None and memory["type"] in ("MemoryError", "SimulationProcessExited")
        sys_exit = outcome["sys_exit.py"].error
        assert sys_exit is not None and sys_exit["type"] == "SystemExit"
        # one executor worker analysed all of them and survived every one
        workers = {r.worker for r in result}
        assert len(workers) == 1
        pid = int(next(iter(workers)).rsplit(":", 1)[1])
        os.kill(pid, 0)
        again = analyse([folder / "serial_dilution.py"], pool, progress=False)
        assert again.ok and {r.worker for r in again} == workers
    # the hang cost its timeout, not the batch's: one worker did everything in sequence
    assert elapsed < timeout + 90


def test_the_callers_thread_pool_is_used_and_left_running(quick_batch: BatchResult) -> None:
    with ThreadPoolExecutor(2) as pool:
        result = analyse([PROTOCOLS / n for n in QUICK[:4]], pool, timeout=20, progress=False)
        assert result.executor == "ThreadPoolExecutor(2)"
        assert pool.submit(lambda: 42).result() == 42  # not shut down by the batch
    reference = {r.path: r.analysis for r in quick_batch}
    assert all(reference[r.path] == r.analysis for r in result)
    assert {r.worker for r in result} == {f"{socket.gethostname()}:{os.getpid()}"}


def test_a_dask_local_cluster_runs_the_batch_unchanged(quick_batch: BatchResult) -> None:
    distributed = pytest.importorskip("distributed")
    paths = [PROTOCOLS / n for n in ["serial_dilution.py", "raises.py", "custom_labware.py"]]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # Dask's worker processes are daemonic: they may not fork multiprocessing children
        daemonic = client.run(lambda: multiprocessing.current_process().daemon)
        assert set(daemonic.values()) == {True}
        result = analyse(paths, client, timeout=20, progress=False)
        assert result.executor.startswith("dask tcp://")
        worker_pids = set(client.run(os.getpid).values())
    reference = {r.path: r.analysis for r in quick_batch}
    assert [r.analysis for r in result] == [reference[str(p.resolve())] for p in paths]
    assert {int(r.worker.rsplit(":", 1)[1]) for r in result} <= worker_pids


def test_dask_local_option_starts_and_closes_a_cluster(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    folder = copy_protocols(tmp_path / "lib", ["serial_dilution.py", "raises.py"])
    result = analyse([folder], dask="local:2", timeout=20, progress=False)
    assert [r.outcome for r in result] == ["failed", "passed"]  # raises.py sorts first
    assert result.executor.startswith("dask tcp://127.0.0.1")


def test_a_bundle_over_the_upload_bounds_is_that_protocols_failure(tmp_path: Path) -> None:
    folder = copy_protocols(tmp_path / "big", ["raises.py"], support=False)
    (folder / "huge.csv").write_bytes(b"0" * (11 * 1024 * 1024))
    (result,) = analyse([folder], progress=False)
    assert result.outcome == "failed" and result.analysis is None
    assert result.error is not None and result.error["type"] == "UploadRefused"
    assert "huge.csv" in result.error["message"]


def test_max_api_level_refuses_what_a_4_7_robot_refuses() -> None:
    (result,) = analyse([PROTOCOLS / "pe_level.py"], max_api_level="2.11", progress=False)
    assert result.error is not None and result.error["type"] == "ApiLevelError"
    assert "reduce your API version to 2.11" in result.error["message"]


def test_progress_callback_sees_every_protocol(quick_batch: BatchResult) -> None:
    seen: list[tuple[str, int, int]] = []
    paths = [PROTOCOLS / n for n in QUICK[:3]]
    analyse(paths, progress=lambda r, done, total: seen.append((r.protocol, done, total)))
    assert sorted(done for _, done, _ in seen) == [1, 2, 3]
    assert {total for *_, total in seen} == {3}
    assert {name for name, *_ in seen} == {r.protocol for r in quick_batch if Path(r.path) in paths}


def command(process: Any) -> list[str]:
    try:
        return list(process.cmdline())
    except Exception:  # psutil: it ended (or is a zombie) meanwhile
        return []


def test_a_host_ends_with_its_executor_worker_however_it_ends() -> None:
    psutil = pytest.importorskip("psutil")
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        (result,) = analyse([PROTOCOLS / "serial_dilution.py"], pool, progress=False)
        assert result.ok and result.worker is not None
        worker = psutil.Process(int(result.worker.rsplit(":", 1)[1]))
        # the host, its forkserver and spare workers: everything the executor worker started
        started = worker.children(recursive=True)
        assert any("batch.host import main" in " ".join(command(p)) for p in started)
        worker.kill()  # SIGKILL: no atexit, no finally; only the host's socket tells it
        wait_until(
            lambda: not any(p.is_running() and p.status() != "zombie" for p in started),
            timeout=60,
            message=lambda: f"still running: {[p.pid for p in started if p.is_running()]}",
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
