"""Protocol workers keep numerical libraries to one thread (``workers/one_thread.py``).

Through the real batch machinery: its analysis host starts the same ``WorkerPool`` and
forkserver that ``POST /protocols`` uses, and the protocol reports, from its own forked
worker after a matrix product, what its numerical libraries were told.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ot2_notebook.simulator.batch import analyse
from ot2_notebook.simulator.batch.hosts import stop_hosts
from ot2_notebook.simulator.workers.one_thread import THREAD_LIMITS

REPORTS_ITS_THREADS = """
import json, os
metadata = {"apiLevel": "2.11"}

def run(protocol):
    import numpy
    numpy.ones((300, 300)) @ numpy.ones((300, 300))
    names = %s
    print("REPORT" + json.dumps({
        "environment": {name: os.environ.get(name) for name in names},
    }))
"""


def _report(folder: Path) -> dict[str, object]:
    """What a protocol reports from a worker of a host started now, with this environment
    (a host is shared by the process and keeps the environment it started with)."""
    folder.mkdir()
    (folder / "reports.py").write_text(REPORTS_ITS_THREADS % sorted(THREAD_LIMITS))
    stop_hosts()
    try:
        result = analyse([str(folder)], jobs=1, progress=False)
    finally:
        stop_hosts()
    [record] = result.results
    assert record.ok, (record.problem, record.errors)
    [line] = [line for line in record.output.splitlines() if line.startswith("REPORT")]
    report: dict[str, object] = json.loads(line.removeprefix("REPORT"))
    return report


def test_a_workers_numerical_libraries_get_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in THREAD_LIMITS:
        monkeypatch.delenv(name, raising=False)
    report = _report(tmp_path / "default")
    assert report["environment"] == THREAD_LIMITS


def test_a_thread_count_the_user_set_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    report = _report(tmp_path / "users")
    environment = report["environment"]
    assert isinstance(environment, dict)
    assert environment["OPENBLAS_NUM_THREADS"] == "2"
