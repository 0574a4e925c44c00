"""The kernel side's batch: ``ot2_notebook.batch.analyse`` runs ``ot2-sim analyse`` as a real
child process (the simulator's environment) and returns the DataFrame it would give there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import ipywidgets
import pandas
import psutil
import pytest

from ot2_notebook import batch
from ot2_notebook.batch.command import build_command, run_batch
from ot2_notebook.batch.display import TextProgress, WidgetProgress
from ot2_notebook.simulator.batch import analyse as analyse_here
from ot2_notebook.simulator.environment import SimulatorSetupError, simulator_interpreter
from tests.conftest import PROTOCOLS, wait_until

PATHS = [PROTOCOLS / n for n in ("serial_dilution.py", "raises.py", "custom_labware.py")]


def test_the_dataframe_equals_the_simulator_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = batch.analyse(
        PATHS, python=sys.executable, junit=tmp_path / "r.xml", json=tmp_path / "r.json"
    )
    here = analyse_here(PATHS, progress=False).to_dataframe()
    timing = ["analysis_seconds"]
    pandas.testing.assert_frame_equal(frame.drop(columns=timing), here.drop(columns=timing))
    assert frame.attrs["summary"]["failed"] == 1
    assert frame.attrs["meta"]["opentrons"].startswith("8.")
    assert (tmp_path / "r.xml").read_text().startswith("<?xml")
    assert len(json.loads((tmp_path / "r.json").read_text())["protocols"]) == 3
    progress = capsys.readouterr().err  # text progress outside a notebook
    assert "[3/3] 1 failed" in progress
    assert "FAILED" in progress and "raises.py: ValueError: volume must be positive" in progress


def test_the_interpreter_comes_from_ot2_sim_python(monkeypatch: pytest.MonkeyPatch) -> None:
    simulator = simulator_interpreter()  # the simulator's environment, wherever tests found it
    monkeypatch.setenv("OT2_SIM_PYTHON", simulator)
    assert batch.simulator_python() == simulator
    frame = batch.analyse(PATHS[:1], progress=False)
    assert frame["ok"].tolist() == [True]
    monkeypatch.setenv("OT2_SIM_PYTHON", "/nonexistent/python")
    with pytest.raises(SimulatorSetupError, match="OT2_SIM_PYTHON: '/nonexistent/python' is not"):
        batch.analyse(PATHS[:1], progress=False)


def test_a_batch_that_cannot_run_says_why(tmp_path: Path) -> None:
    with pytest.raises(batch.BatchError, match=r"exited with code 2: .*does not exist"):
        batch.analyse([tmp_path / "missing"], python=sys.executable, progress=False)


def test_the_kernel_side_never_imports_opentrons() -> None:
    code = (
        "import sys\n"
        "import ot2_notebook.batch as b\n"
        f"frame = b.analyse([{str(PATHS[0])!r}], python=sys.executable, progress=False)\n"
        "assert frame['ok'].all()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('opentrons', 'fastapi', 'uvicorn', 'starlette')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    assert done.stdout.strip() == "[]"


def children_analysing() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "analyse" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_an_interrupted_batch_stops_its_child(tmp_path: Path) -> None:
    def interrupt(event: dict[str, Any]) -> None:
        assert children_analysing(), "the batch should be running"
        raise KeyboardInterrupt

    command = build_command(
        sys.executable,
        [PROTOCOLS / "loops_forever.py"],
        tmp_path / "never.json",
        jobs=None,
        dask=None,
        timeout=60,
        max_api_level=None,
        memory_limit_mb=None,
        junit=None,
    )
    with pytest.raises(KeyboardInterrupt):
        run_batch(lambda _path: command, interrupt)
    wait_until(lambda: not children_analysing(), timeout=30, message="the batch kept running")
    assert not (tmp_path / "never.json").exists()


def test_the_widget_progress_bar_follows_the_events() -> None:
    progress = WidgetProgress()
    assert isinstance(progress.box, ipywidgets.HBox)
    progress({"event": "start", "total": 3})
    assert (progress.bar.max, progress.bar.value) == (3, 0)
    progress({"event": "protocol", "done": 1, "total": 3, "protocol": "a.py", "ok": True})
    assert progress.bar.value == 1 and progress.bar.bar_style == ""
    progress({"event": "protocol", "done": 2, "total": 3, "protocol": "b.py", "ok": False})
    assert progress.bar.bar_style == "danger"
    assert progress.label.value == "2/3, 1 failed: b.py"
    progress({"event": "protocol", "done": 3, "total": 3, "protocol": "c.py", "ok": True})
    progress.close()
    assert progress.bar.value == 3 and progress.bar.bar_style == "danger"
    assert progress.bar.description == "analysed"

    clean = WidgetProgress()
    clean({"event": "start", "total": 1})
    clean({"event": "protocol", "done": 1, "total": 1, "protocol": "a.py", "ok": True})
    clean.close()
    assert clean.bar.bar_style == "success"


def test_text_progress_outside_a_notebook() -> None:
    import io

    stream = io.StringIO()
    progress = TextProgress(stream)
    progress({"event": "start", "total": 2})
    progress({"event": "protocol", "done": 1, "total": 2, "protocol": "a.py", "ok": True})
    progress(
        {
            "event": "protocol",
            "done": 2,
            "total": 2,
            "protocol": "b.py",
            "ok": False,
            "outcome": "failed",
            "error": {"type": "KeyError", "message": "'x'"},
        }
    )
    progress.close()
    text = stream.getvalue()
    assert "FAILED b.py: KeyError: 'x'" in text and text.rstrip().endswith("[2/2] 1 failed")
