"""A protocol worker hides what it loaded before its job from the cycle collector
(``process.freeze_what_is_loaded``), and still collects what the job itself leaves behind.

Through the real batch machinery (its analysis host starts the same ``WorkerPool`` and
forkserver that ``POST /protocols`` uses); the protocol reports from its own forked worker.
"""

from __future__ import annotations

import json
from pathlib import Path

from ot2_notebook.simulator.batch import analyse

REPORTS_WHAT_THE_COLLECTOR_SEES = """
import gc, json, weakref
import opentrons.protocol_api
metadata = {"apiLevel": "2.13"}

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
    print("REPORT" + json.dumps({
        "enabled": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "loaded_tracked": id(loaded) in tracked,
        "job_tracked": gc.is_tracked(mine) and id(mine) in {id(o) for o in gc.get_objects()},
        "cycle_collected": gone() is None,
    }))
"""


def test_a_worker_freezes_what_it_loaded_and_collects_what_its_job_makes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gc"
    folder.mkdir()
    (folder / "reports.py").write_text(REPORTS_WHAT_THE_COLLECTOR_SEES)
    [record] = analyse([str(folder)], jobs=1, progress=False).results
    assert record.ok, (record.problem, record.errors)
    [line] = [line for line in record.output.splitlines() if line.startswith("REPORT")]
    report = json.loads(line.removeprefix("REPORT"))
    # opentrons, as imported by the forkserver, is out of the collector's sight...
    assert report["frozen"] > 10_000, report
    assert report["loaded_tracked"] is False, report
    # ...while the collector runs and sees, and frees, what the job makes
    assert report["enabled"] is True, report
    assert report["job_tracked"] is True, report
    assert report["cycle_collected"] is True, report
