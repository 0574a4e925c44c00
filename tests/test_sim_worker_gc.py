"""A protocol worker hides what it loaded before its job from the cycle collector
(``process.freeze_what_is_loaded``), and still collects what the job itself leaves behind; the
forkservers freeze what they preloaded before they fork (``workers/preloaded.py``).

Robot software 4: through the real batch machinery (its analysis host starts the same
``WorkerPool`` and forkserver that ``POST /protocols`` uses); the protocol prints its report.
Software 8: an upload to a real software-8 ot2-sim; the protocol raises its report, which
the analysis's error carries (a software-8 analysis keeps no output).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ot2_notebook.simulator import start
from ot2_notebook.simulator.batch import analyse
from tests.conftest import sim_command
from tests.test_sim_v8 import Robot

REPORTS_WHAT_THE_COLLECTOR_SEES = """
import gc, json, weakref
import opentrons.protocol_api
%(header)s

class Node:
    pass

def run(protocol):
    tracked = {id(o) for o in gc.get_objects()}
    loaded = opentrons.protocol_api.__dict__  # imported by the forkserver, before any job
    mine = [[], "made by the job"]  # a list: always tracked (a dict of strings is not)
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    %(report)s("REPORT" + json.dumps({
        "enabled": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "loaded_tracked": id(loaded) in tracked,
        "job_tracked": gc.is_tracked(mine) and id(mine) in {id(o) for o in gc.get_objects()},
        "cycle_collected": gone() is None,
    }) + "END")
"""


def _protocol(header: str, report: str) -> str:
    return REPORTS_WHAT_THE_COLLECTOR_SEES % {"header": header, "report": report}


def _assert_frozen_before_and_collecting_after(report: dict[str, Any]) -> None:
    # opentrons, as imported by the forkserver, is out of the collector's sight...
    assert report["frozen"] > 10_000, report
    assert report["loaded_tracked"] is False, report
    # ...while the collector runs and sees, and frees, what the job makes
    assert report["enabled"] is True, report
    assert report["job_tracked"] is True, report
    assert report["cycle_collected"] is True, report


def test_a_worker_freezes_what_it_loaded_and_collects_what_its_job_makes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gc"
    folder.mkdir()
    (folder / "reports.py").write_text(_protocol('metadata = {"apiLevel": "2.13"}', "print"))
    [record] = analyse([str(folder)], jobs=1, progress=False).results
    assert record.ok, (record.problem, record.errors)
    [line] = [line for line in record.output.splitlines() if line.startswith("REPORT")]
    _assert_frozen_before_and_collecting_after(
        json.loads(line.removeprefix("REPORT").removesuffix("END"))
    )


def test_a_software_8_worker_freezes_what_it_loaded_and_collects_what_its_job_makes() -> None:
    source = _protocol(
        'requirements = {"robotType": "OT-2", "apiLevel": "2.20"}', "raise ValueError"
    )
    with (
        start(port=0, robot_software=8, mqtt_broker="none", spare_workers=1) as handle,
        Robot(handle.url) as robot,
    ):
        analysis = robot.analysis(robot.upload(source, "reports.py"))
    [error] = analysis["errors"]
    found = re.search(r"REPORT(.*)END", error["detail"])
    assert found and error["errorType"] == "ExceptionInProtocolError", error
    _assert_frozen_before_and_collecting_after(json.loads(found.group(1)))


FORKSERVER_CHILD_REPORTS_ITS_FREEZE = """
import gc, json, multiprocessing
from ot2_notebook.simulator.workers import %s as chosen

context = multiprocessing.get_context("forkserver")
context.set_forkserver_preload(chosen._PRELOAD)
with context.Pool(1) as children:  # forked by a forkserver with the workers' preload
    frozen = children.apply(gc.get_freeze_count)
print(json.dumps({"frozen": frozen, "preload": chosen._PRELOAD}))
"""


@pytest.mark.parametrize("pool_module", ["pool", "pool_v8"])
def test_a_forkserver_freezes_what_it_preloaded_before_it_forks(pool_module: str) -> None:
    """A child starts with opentrons out of the collector's sight, before any freeze of its
    own: a collection in it never examines (and so never copies) the forkserver's heap."""
    python = sim_command()[0]
    done = subprocess.run(
        [python, "-c", FORKSERVER_CHILD_REPORTS_ITS_FREEZE % pool_module],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["preload"][-1] == "ot2_notebook.simulator.workers.preloaded", report
    assert report["frozen"] > 50_000, report  # all of opentrons: about 160,000 objects
