"""Analysis with the real opentrons simulation: equipment, modules, custom labware, errors,
and isolation from protocols that hang, exit or exhaust memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import Api, wait_until

pytestmark = pytest.mark.usefixtures("clean_robot")


def modules_of(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return list(reply["data"]["requiredEquipment"]["modules"])


def labware_by_slot(reply: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {lw["slot"]: lw for lw in reply["data"]["requiredEquipment"]["labware"]}


def run_to(api: Api, protocol_id: str, state: str = "finished") -> dict[str, Any]:
    session_id = api.create_session(protocol_id)
    api.wait_for_state(session_id, "loaded")
    assert api.command(session_id, "protocol.startRun").status_code == 200
    return api.wait_for_state(session_id, state)


@pytest.mark.parametrize(
    ("protocol", "module_type", "model", "slot", "labware"),
    [
        (
            "magnetic_module.py",
            "magneticModuleType",
            "magneticModuleV2",
            4,
            "nest_96_wellplate_100ul_pcr_full_skirt",
        ),
        (
            "temperature_module.py",
            "temperatureModuleType",
            "temperatureModuleV2",
            3,
            "opentrons_24_aluminumblock_nest_1.5ml_snapcap",
        ),
        (
            "thermocycler_module.py",
            "thermocyclerModuleType",
            "thermocyclerModuleV1",
            7,
            "nest_96_wellplate_100ul_pcr_full_skirt",
        ),
    ],
)
def test_module_protocols_at_api_2_13_analyse_and_run(
    api: Api, protocol: str, module_type: str, model: str, slot: int, labware: str
) -> None:
    """opentrons 8.x fails these on Python 3.11+ (NoSuchModuleError ... MAGNETIC_V2)
    without the simulator's shim; they must work on every supported Python."""
    reply = api.upload(protocol)
    assert reply["data"]["errors"] == [], reply["data"]["errors"]
    assert reply["data"]["metadata"]["apiLevel"] == "2.13"
    assert modules_of(reply) == [
        {"type": module_type, "model": model, "slot": slot, "location": slot}
    ]
    assert labware_by_slot(reply)[slot]["label"] == labware, "labware on a module: its slot"
    run_to(api, protocol.removesuffix(".py"))


def test_custom_labware_from_a_support_file(start_sim: Callable[..., SimulatorHandle]) -> None:
    # the protocol's P1000 must be on the robot: one with a P1000 GEN2 on its left mount
    api = Api(start_sim(left="p1000_single_gen2").url)
    reply = api.upload("custom_labware.py", "ot2nb_6_tuberack_5000ul.json")
    assert reply["data"]["errors"] == []
    slots = labware_by_slot(reply)
    assert slots[1]["uri"] == "ot2_notebook/ot2nb_6_tuberack_5000ul/1"
    assert slots[3]["uri"] == "ot2_notebook/ot2nb_6_tuberack_5000ul/1"
    assert modules_of(reply)[0]["model"] == "temperatureModuleV2"
    finished = run_to(api, "custom_labware")
    texts = [e["params"]["text"] for e in finished["details"]["events"] if e["params"]]
    assert any("ot2_notebook 6 Tube Rack 5 mL" in t for t in texts)


def test_custom_labware_without_its_definition_is_an_analysis_error(api: Api) -> None:
    reply = api.upload("custom_labware.py")
    [error] = reply["data"]["errors"]
    assert error["type"] == "ExceptionInProtocolError"
    assert "ot2nb_6_tuberack_5000ul" in error["description"]
    assert error["lineNumber"] == 7


def test_engine_level_protocol_analyses(start_sim: Callable[..., SimulatorHandle]) -> None:
    # its 8-channel pipette must be on the robot
    api = Api(start_sim(right="p300_multi_gen2").url)
    reply = api.upload("pe_level.py")
    assert reply["data"]["errors"] == []
    assert reply["data"]["metadata"]["apiLevel"] == "2.15"
    assert reply["data"]["requiredEquipment"]["pipettes"][0]["channels"] == 8
    run_to(api, "pe_level")


def test_syntax_error(api: Api) -> None:
    reply = api.upload("syntax_error.py")
    data = reply["data"]
    assert data["errors"] == [
        {
            "type": "SyntaxError",
            "description": "expected ':'",
            "lineNumber": 3,
            "fileName": "syntax_error.py",
            "exceptionType": "SyntaxError",
        }
    ]
    assert data["requiredEquipment"] == {"pipettes": [], "labware": [], "modules": []}
    assert data["metadata"] == {"name": None, "author": None, "apiLevel": None}
    assert data["estimatedDuration"] is None
    session_id = api.create_session("syntax_error")
    assert api.wait_for_state(session_id, "error")["details"]["errors"][0]["type"] == "SyntaxError"


def test_exception_in_run(api: Api) -> None:
    [error] = api.upload("raises.py")["data"]["errors"]
    assert error == {
        "type": "ExceptionInProtocolError",
        "description": "volume must be positive",
        "lineNumber": 7,
        "fileName": "raises.py",
        "exceptionType": "ValueError",
    }


def test_failing_import(api: Api) -> None:
    [error] = api.upload("missing_import.py")["data"]["errors"]
    assert error["type"] == "ModuleNotFoundError"
    assert error["description"] == "No module named 'reagent_tables'"
    assert error["lineNumber"] == 1


def test_error_inside_a_support_module_names_that_file(api: Api) -> None:
    api.post(
        "/protocols",
        files=[
            (
                "protocolFile",
                (
                    "uses_helper.py",
                    b"import helper_lib\nmetadata = {'apiLevel': '2.13'}\n"
                    b"def run(ctx):\n    helper_lib.check(-1)\n",
                ),
            ),
            (
                "supportFiles",
                (
                    "helper_lib.py",
                    b"def check(volume):\n    if volume < 0:\n"
                    b"        raise ValueError('negative volume')\n",
                ),
            ),
        ],
    )
    [error] = api.get("/protocols/uses_helper").json()["data"]["errors"]
    assert (error["fileName"], error["lineNumber"]) == ("helper_lib.py", 3)
    assert error["description"] == "negative volume"


def test_support_modules_do_not_leak_between_protocols(api: Api) -> None:
    """Each job runs in a fresh process: a helper module of one protocol is never the
    (cached) helper of another with the same module name."""
    for value in ("first", "second"):
        reply = api.post(
            "/protocols",
            files=[
                (
                    "protocolFile",
                    (
                        f"p_{value}.py",
                        b"import shared_name\nmetadata = {'apiLevel': '2.13'}\n"
                        b"def run(ctx):\n    ctx.comment(shared_name.VALUE)\n",
                    ),
                ),
                ("supportFiles", ("shared_name.py", f"VALUE = '{value}'\n".encode())),
            ],
        )
        assert reply.status_code == 201
        finished = run_to(api, f"p_{value}")
        texts = [e["params"]["text"] for e in finished["details"]["events"] if e["params"]]
        assert texts[-1] == value


def test_flex_protocol_is_refused_by_analysis(api: Api) -> None:
    reply = api.post(
        "/protocols",
        files=[
            (
                "protocolFile",
                (
                    "flex.py",
                    b"requirements = {'apiLevel': '2.16', 'robotType': 'Flex'}\n"
                    b"def run(ctx):\n    pass\n",
                ),
            )
        ],
    )
    [error] = reply.json()["data"]["errors"]
    assert "Opentrons Flex" in error["description"]


# -- isolation --------------------------------------------------------------------------


def worker_pids(sim: Any) -> set[int]:
    """Worker processes: forked by the forkserver, the server's only direct child."""
    server = psutil.Process(sim.pid)
    return {worker.pid for forkserver in server.children() for worker in forkserver.children()}


def test_endless_loop_times_out_and_the_server_carries_on(api: Api, sim: Any) -> None:
    before = time.monotonic()
    reply = api.upload("loops_forever.py")  # the shared robot's analysis timeout is 20 s
    elapsed = time.monotonic() - before
    [error] = reply["data"]["errors"]
    assert error["type"] == "AnalysisTimeout"
    assert "20 s" in error["description"]
    assert 19 < elapsed < 30
    assert api.upload("moves.py")["data"]["errors"] == []


def test_os_exit_at_import_is_an_analysis_error(api: Api, sim: Any) -> None:
    [error] = api.upload("exits_at_import.py")["data"]["errors"]
    assert error["type"] == "SimulationProcessExited"
    assert "exited with code 3" in error["description"]
    assert api.upload("moves.py")["data"]["errors"] == []


def test_sys_exit_in_run_is_an_analysis_error(api: Api) -> None:
    [error] = api.upload("sys_exit.py")["data"]["errors"]
    assert error["type"] == "SystemExit"
    assert error["lineNumber"] == 8


def test_memory_exhaustion_is_an_analysis_error(api: Api) -> None:
    [error] = api.upload("eats_memory.py")["data"]["errors"]
    assert error["exceptionType"] == "MemoryError" or error["type"] == "SimulationProcessExited"
    assert api.upload("moves.py")["data"]["errors"] == []


def test_a_hanging_analysis_does_not_block_other_work(api: Api, sim: Any) -> None:
    import threading

    hung: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: hung.update(api.upload("loops_forever.py")), daemon=True
    )
    thread.start()
    # while that one loops, another protocol uploads, loads and runs
    api_other = Api(sim.url)
    wait_until(lambda: len(worker_pids(sim)) > 0, message="no worker process seen")
    started = time.monotonic()
    assert api_other.upload("moves.py")["data"]["errors"] == []
    run_to(api_other, "moves")
    assert time.monotonic() - started < 10
    thread.join(timeout=40)
    assert hung["data"]["errors"][0]["type"] == "AnalysisTimeout"


def test_killed_worker_gives_a_clean_run_error_and_a_fresh_worker(api: Api, sim: Any) -> None:
    api.upload("long_run.py")
    session_id = api.create_session("long_run")
    api.wait_for_state(session_id, "loaded")
    api.command(session_id, "protocol.startRun")
    api.wait_for_state(session_id, "running")
    # kill every worker process (the run's, and spares, which the pool replaces)
    for pid in worker_pids(sim):
        psutil.Process(pid).kill()
    failed = api.wait_for_state(session_id, "error", timeout=10)
    [error] = failed["details"]["errors"]
    assert error["type"] == "SimulationProcessExited"
    assert "killed by signal 9" in error["description"]
    assert api.upload("moves.py")["data"]["errors"] == [], "fresh workers serve new jobs"


def test_workers_do_not_outlive_the_simulator(start_sim: Any) -> None:
    handle = start_sim()
    family = [handle.pid, *(p.pid for p in psutil.Process(handle.pid).children(recursive=True))]
    assert len(family) >= 3, "server, forkserver and spare workers"
    handle.stop()
    wait_until(
        lambda: (
            not any(
                psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                for pid in family
            )
        ),
        timeout=10,
        message="a simulator process outlived stop()",
    )


def test_max_api_level_refuses_what_robot_software_4_7_refuses(start_sim: Any) -> None:
    handle = start_sim(max_api_level="2.11", max_protocols=5)
    with Api(handle.url) as api:
        assert api.get("/health").json()["maximum_protocol_api_version"] == [2, 11]
        [error] = api.upload("magnetic_module.py")["data"]["errors"]  # API level 2.13
        assert error["type"] == "ApiLevelError"
        assert error["description"] == (
            "API version 2.13 is not supported by this robot software. Please reduce your API "
            "version to 2.11 or below or update your robot."
        )
        ok = api.post(
            "/protocols",
            files=[
                (
                    "protocolFile",
                    (
                        "at_2_11.py",
                        b"metadata = {'apiLevel': '2.11'}\ndef run(ctx):\n"
                        b"    ctx.load_module('magnetic module gen2', 1)\n",
                    ),
                )
            ],
        )
        assert ok.json()["data"]["errors"] == []


_THREADS_PROTOCOL = """import threading
metadata = {{"apiLevel": "{level}"}}


def run(ctx):
    magnets = ctx.load_module("magnetic module gen2", 4)
    magnets.engage(height_from_base=10)
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])
    pipette.pick_up_tip()
    ctx.comment("threads: " + ",".join(sorted(t.name for t in threading.enumerate())))
    pipette.drop_tip()
"""


@pytest.mark.parametrize(("level", "hardware_thread"), [("2.13", False), ("2.15", True)])
def test_the_legacy_core_drives_the_hardware_on_the_protocols_thread(
    api: Api, sim: SimulatorHandle, level: str, hardware_thread: bool
) -> None:
    """Below API level 2.14 a worker runs the hardware simulator's coroutines on its own
    thread (``workers/inline_hardware.py``) instead of opentrons' ``ManagedThread``, in
    analysis and in a run (module included); from 2.14 on opentrons' own threads stay.
    Either way the worker ends cleanly: its module poller is stopped, not left pending."""
    log_start = sim.log_path.stat().st_size
    name = f"threads_{level.replace('.', '_')}"
    source = _THREADS_PROTOCOL.format(level=level).encode()
    reply = api.post("/protocols", files=[("protocolFile", (f"{name}.py", source))])
    assert reply.status_code == 201, reply.text
    assert reply.json()["data"]["errors"] == []
    assert reply.json()["data"]["requiredEquipment"]["modules"][0]["model"] == "magneticModuleV2"
    finished = run_to(api, name)
    texts = [e["params"]["text"] for e in finished["details"]["events"] if e["params"]]
    threads = next(t for t in texts if t.startswith("threads: "))
    assert ("ManagedThread" in threads) is hardware_thread, threads
    assert texts[-1].startswith("Dropping tip"), texts
    with sim.log_path.open(errors="replace") as log:
        log.seek(log_start)
        written = log.read()
    for noise in ("Task was destroyed", "closing the hardware simulator failed", "Traceback"):
        assert noise not in written, written


def test_a_protocol_running_its_own_event_loop_still_drives_the_hardware(api: Api) -> None:
    """A protocol that calls the hardware from inside an event loop of its own (``asyncio.run``)
    works as with opentrons' hardware thread: its loop stays its running loop, and a hardware
    call that waits (a module's temperature) runs the hardware's loop elsewhere meanwhile."""
    source = b"""import asyncio
metadata = {"apiLevel": "2.13"}


def run(ctx):
    block = ctx.load_module("temperature module gen2", 3)
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    pipette = ctx.load_instrument("p300_single_gen2", "right", tip_racks=[tips])

    async def steps():
        pipette.pick_up_tip()
        block.set_temperature(8)
        await asyncio.sleep(0.01)  # a timer: needs its own loop to be the running loop
        ctx.comment(f"loop running: {asyncio.get_running_loop().is_running()}")
        pipette.drop_tip()

    asyncio.run(steps())
"""
    reply = api.post("/protocols", files=[("protocolFile", ("own_loop.py", source))])
    assert reply.status_code == 201, reply.text
    assert reply.json()["data"]["errors"] == [], reply.json()["data"]["errors"]
    finished = run_to(api, "own_loop")
    texts = [e["params"]["text"] for e in finished["details"]["events"] if e["params"]]
    assert "loop running: True" in texts, texts
    assert any(t.startswith("Setting Temperature Module temperature to 8") for t in texts), texts
