"""What a batch reports: the DataFrame, the JSON, JUnit XML for CI, and the command's exit codes."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

import pandas
import pytest

from ot2_notebook.simulator.batch import BatchResult, analyse, discover
from ot2_notebook.simulator.batch.results import ERROR, ProtocolResult
from ot2_notebook.simulator.batch.table import COLUMNS
from tests.conftest import PROTOCOLS, wait_until

HELPER_FAILS = """from plate_helpers import fill
metadata = {"apiLevel": "2.13", "protocolName": "Helper fails"}


def run(ctx):
    fill(ctx, 0)
"""
HELPERS = """def fill(ctx, volume):
    tips = ctx.load_labware("opentrons_96_tiprack_300ul", 1)
    if volume <= 0:
        raise ValueError(f"cannot fill with {volume} uL")
"""
PRINTS = """metadata = {"apiLevel": "2.13"}


def run(ctx):
    print("colour \\x1b[31mred\\x1b[0m and a NUL \\x00 <&>")
    ctx.load_labware("corning_96_wellplate_360ul_flat", 2)
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library")
    plates = root / "plates"
    plates.mkdir()
    for name in ("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json"):
        shutil.copy(PROTOCOLS / name, plates / name)
    shutil.copy(PROTOCOLS / "raises.py", plates / "raises.py")
    (plates / "helper_fails.py").write_text(HELPER_FAILS)
    (plates / "plate_helpers.py").write_text(HELPERS)
    (root / "prints.py").write_text(PRINTS)
    return root


@pytest.fixture(scope="module")
def batch(library: Path) -> BatchResult:
    return analyse([library], progress=False)


def test_the_dataframe_has_a_row_per_protocol(batch: BatchResult, library: Path) -> None:
    frame = batch.to_dataframe()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 4
    rows = {
        Path(p).name: row for p, row in zip(frame["path"], frame.to_dict("records"), strict=True)
    }
    dilution = rows["serial_dilution.py"]
    assert dilution["ok"] and pandas.isna(dilution["error_type"])
    assert dilution["pipettes"] == ["p300_single_gen2 (right)"]  # dilution_settings.json
    assert "corning_96_wellplate_360ul_flat (2)" in dilution["labware"]
    assert not any("trash" in item for item in dilution["labware"])
    assert dilution["modules"] == []
    assert dilution["estimated_duration"] > 0 and dilution["analysis_seconds"] > 0
    assert dilution["name"] == "Serial dilution" and dilution["api_level"] == "2.11"
    assert dilution["support_files"] == [
        "dilution_helpers.py",
        "dilution_settings.json",
        "plate_helpers.py",
    ]
    helper = rows["helper_fails.py"]
    assert not helper["ok"]
    assert (helper["error_type"], helper["error_message"]) == (
        "ValueError",
        "cannot fill with 0 uL",
    )
    # the error is in the support module, so the file is the helper's, with its line
    assert helper["error_file"].endswith("plates/plate_helpers.py")
    assert helper["error_line"] == 4
    assert str(frame["error_line"].dtype) == "Int64"
    assert frame["ok"].dtype == bool
    assert frame["ok"].sum() == 2


def test_the_json_document(batch: BatchResult, tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    batch.write_json(path)
    document = json.loads(path.read_text())
    assert document["format"] == 1 and document["tool"] == "ot2-sim analyse"
    assert document["summary"] == {
        "protocols": 4,
        "passed": 2,
        "failed": 2,
        "error": 0,
        "seconds": round(batch.seconds, 3),
    }
    meta = document["meta"]
    assert meta["opentrons"].startswith("8.")
    assert meta["executor"] == "ThreadPoolExecutor(2)" or meta["executor"].startswith("Thread")
    datetime.fromisoformat(meta["startedAt"])
    records = {Path(r["path"]).name: r for r in document["protocols"]}
    raised = records["raises.py"]
    assert set(raised) >= {
        "protocol",
        "path",
        "protocolFile",
        "supportFiles",
        "ok",
        "outcome",
        "error",
        "errors",
        "estimatedDuration",
        "steps",
        "analysisSeconds",
        "worker",
        "analysis",
        "output",
    }
    assert raised["outcome"] == "failed" and raised["ok"] is False
    assert raised["error"]["type"] == "ValueError" and raised["error"]["line"]
    assert raised["errors"] == raised["analysis"]["errors"]
    assert raised["errors"][0]["type"] == "ExceptionInProtocolError"  # the robot's shape
    assert records["prints.py"]["output"].startswith("colour")


def test_junit_xml_has_the_shape_ci_servers_read(batch: BatchResult, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    batch.write_junit(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ElementTree.fromstring(text)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert element.get("tests") == "4"
        assert element.get("failures") == "2"
        assert element.get("errors") == "0"
        assert element.get("skipped") == "0"
        assert float(element.get("time", "x")) >= 0
    assert suite.get("name") == "ot2-sim analyse" and suite.get("hostname")
    # the JUnit schema's timestamp: ISO 8601 without a time zone
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["opentrons"].startswith("8.")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"serial_dilution.py", "raises.py", "helper_fails.py", "prints.py"}
    for case in cases.values():
        assert case.get("classname") and case.get("file") and float(case.get("time", "x")) >= 0
    passed = cases["serial_dilution.py"]
    assert [child.tag for child in passed] == []  # nothing printed, nothing failed
    assert passed.get("classname", "").endswith(".plates")
    assert passed.get("file", "").endswith("plates/serial_dilution.py")
    raised = cases["raises.py"]
    (failure,) = raised.findall("failure")
    line = raised.get("line")
    assert line and failure.get("type") == "ValueError"
    assert failure.get("message", "").endswith(
        f"plates/raises.py:{line}: ValueError: volume must be positive"
    )
    assert failure.text and f"raises.py:{line}: ValueError" in failure.text
    helper = cases["helper_fails.py"]
    (failure,) = helper.findall("failure")
    assert "plates/plate_helpers.py:4: ValueError: cannot fill with 0 uL" in failure.get(
        "message", ""
    )
    assert helper.get("line") is None  # the line is in another file than the test case's
    output = cases["prints.py"].find("system-out")
    assert output is not None and output.text is not None
    assert output.text.startswith("colour") and "<&>" in output.text  # escaped, then parsed
    assert "\x00" not in output.text and "\x1b" not in output.text  # not XML 1.0 characters


def test_junit_reports_machinery_failures_as_errors(batch: BatchResult) -> None:
    source = discover([PROTOCOLS / "raises.py"])[0]
    lost = ProtocolResult.not_analysed(source, ERROR, "AnalysisHostError", "the host exited")
    broken = BatchResult(
        results=(*batch.results, lost),
        seconds=batch.seconds,
        executor=batch.executor,
        options=batch.options,
        started_at=batch.started_at,
    )
    root = ElementTree.fromstring(broken.to_junit())
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "1")
    errors = [case for case in root.iter("testcase") if case.find("error") is not None]
    assert len(errors) == 1
    error = errors[0].find("error")
    assert error is not None and error.get("type") == "AnalysisHostError"
    assert broken.exit_code == 1 and not broken.ok


# -- the command line --------------------------------------------------------------------------


def ot2_sim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ot2_notebook.simulator", "analyse", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_command_exit_codes_and_reports(library: Path, tmp_path: Path) -> None:
    good = ot2_sim(
        "plates/serial_dilution.py",
        "--json",
        str(tmp_path / "good.json"),
        "--junit",
        str(tmp_path / "good.xml"),
        "--progress",
        "json",
        cwd=library,
    )
    assert good.returncode == 0, good.stderr
    events = [json.loads(line) for line in good.stdout.splitlines()]
    assert events[0] == {"event": "start", "total": 1}
    assert events[1]["event"] == "protocol" and events[1]["ok"] is True
    assert events[1]["protocol"] == "plates/serial_dilution.py"
    assert "1 protocols: 1 passed, 0 failed, 0 errors" in good.stderr
    assert json.loads((tmp_path / "good.json").read_text())["summary"]["passed"] == 1
    assert ElementTree.parse(tmp_path / "good.xml").getroot().get("failures") == "0"

    bad = ot2_sim(".", "--progress", "lines", "--jobs", "2", cwd=library)
    assert bad.returncode == 1, bad.stderr
    assert "FAILED plates/raises.py" in bad.stdout
    assert "plates/raises.py:" in bad.stdout and "ValueError: volume must be positive" in bad.stdout
    assert "4 protocols: 2 passed, 2 failed, 0 errors" in bad.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing_folder"], "does not exist"),
        (["empty"], "No protocols found"),
        (["plates", "--dask", "local:0"], "worker count"),
        (["plates", "--dask", "scheduler"], "Cannot reach the Dask scheduler at 'scheduler'"),
        (["plates", "--jobs", "0"], "--jobs must be at least 1"),
        (["plates", "--max-api-level", "two"], "must look like '2.11'"),
    ],
)
def test_command_refuses_what_it_cannot_run_with_exit_2(
    library: Path, args: list[str], message: str
) -> None:
    (library / "empty").mkdir(exist_ok=True)
    result = ot2_sim(*args, cwd=library)
    assert result.returncode == 2
    assert message in result.stderr


def test_an_interrupted_command_stops_at_once_and_leaves_nothing_running(library: Path) -> None:
    psutil = pytest.importorskip("psutil")
    (library / "hangs").mkdir(exist_ok=True)
    shutil.copy(PROTOCOLS / "loops_forever.py", library / "hangs" / "loops_forever.py")
    command = [sys.executable, "-m", "ot2_notebook.simulator", "analyse", "hangs"]
    process = subprocess.Popen(
        [*command, "--progress", "json", "--analysis-timeout", "120"],
        cwd=library,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline())["event"] == "start"
        # the protocol is under way once its host and worker exist (host, forkserver, worker)
        wait_until(
            lambda: len(psutil.Process(process.pid).children(recursive=True)) >= 3,
            timeout=300,
            message="the analysis never started",
        )
        started = psutil.Process(process.pid).children(recursive=True)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        assert time.monotonic() - interrupted < 30  # not the protocol's 120 s timeout
        assert "interrupted" in (process.stderr.read() if process.stderr else "")
        wait_until(
            lambda: not any(p.is_running() and p.status() != "zombie" for p in started),
            timeout=30,
            message="a process of the batch outlived it",
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_without_opentrons_every_protocol_is_an_error_not_a_failure(tmp_path: Path) -> None:
    """A CI job that forgot ``ot2-notebook[sim]``: the report must blame the environment."""
    import venv

    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # the standard library only: no opentrons
    repository = Path(__file__).resolve().parent.parent
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [
            *(str(bare / "bin" / "python"), "-m", "ot2_notebook.simulator", "analyse"),
            *(str(PROTOCOLS / "moves.py"), str(PROTOCOLS / "raises.py"), "--junit", str(junit)),
        ],
        # the batch's hosts run in the simulator's environment: here, by mistake, this one
        env={
            "PYTHONPATH": str(repository),
            "PATH": "/usr/bin:/bin",
            "OT2_SIM_PYTHON": str(bare / "bin" / "python"),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "0 passed, 0 failed, 2 errors" in done.stdout
    assert "No module named 'opentrons'" in done.stdout
    root = ElementTree.parse(junit).getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "2")
    for error in root.iter("error"):
        assert error.get("type") == "AnalysisHostError"
        assert "is opentrons installed" in error.get("message", "")
