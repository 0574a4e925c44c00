"""The extension's life in a real IPython shell: registration, arguments, settings, the
simulated robot it starts, import hygiene, and what the robot holds when an upload fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import ot2_notebook
from ot2_notebook.client import NoCurrentRobotError, UploadLimitError, current_robot
from ot2_notebook.magics import OT2MagicError, RobotRequestError
from ot2_notebook.simulator import SimulatorHandle
from tests.conftest import Api, wait_until
from tests.test_magics_workflow import (
    PAUSING_CELL,
    Notebook,
    assert_no_traceback,
    notebook,  # noqa: F401  (fixture)
    protocols_on,
    test_shell,
)

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "tests" / "protocols"

MAGICS = {
    "line": {"ot2_connect", "ot2_upload", "ot2_run", "ot2_status", "ot2_cleanup"},
    "cell": {"ot2_support", "ot2_protocol"},
}


@pytest.fixture
def bare() -> Iterator[Notebook]:
    """The test shell without the extension (unloaded again afterwards if a test loads it)."""
    book = Notebook(test_shell())
    yield book
    book.run("%unload_ext ot2_notebook")
    book.shell.config.pop("OT2Magics", None)  # %config values live in the shell's config


def registered(book: Notebook) -> dict[str, set[str]]:
    magics = book.shell.magics_manager.magics
    return {kind: {n for n in magics[kind] if n.startswith("ot2_")} for kind in ("line", "cell")}


# -- registration ---------------------------------------------------------------------------------


def test_magics_exist_only_while_the_extension_is_loaded(bare: Notebook) -> None:
    assert registered(bare) == {"line": set(), "cell": set()}
    bare.ok("%load_ext ot2_notebook")
    assert registered(bare) == MAGICS
    assert bare.ok("%load_ext ot2_notebook").shown.strip() == (
        "The ot2_notebook extension is already loaded. To reload it, use:\n"
        "  %reload_ext ot2_notebook"
    )
    bare.ok("%unload_ext ot2_notebook")
    assert registered(bare) == {"line": set(), "cell": set()}
    gone = bare.run("%ot2_status")
    assert isinstance(gone.error, UsageError)
    bare.ok("%load_ext ot2_notebook")
    bare.ok("%reload_ext ot2_notebook")
    assert registered(bare) == MAGICS


def test_config_sets_the_robot_and_the_timeouts(
    bare: Notebook, robot_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bare.ok("%load_ext ot2_notebook")
    bare.ok(f'%config OT2Magics.robot_url = "{robot_url}"')
    assert current_robot().base_url == robot_url
    assert "RobotPanel: ot2-sim" in bare.ok("%ot2_status").shown
    bare.ok("%config OT2Magics.wait_timeout = 12.5")
    assert bare.magics.wait_timeout == 12.5
    listed = bare.ok("%config OT2Magics").shown
    for name in (
        "robot_url",
        "simulate_speed",
        "simulate_max_protocols",
        "analysis_timeout",
        "wait_timeout",
        "simulator_python",
        "simulator_command",
    ):
        assert f"OT2Magics.{name}" in listed
    bare.run('%config OT2Magics.robot_url = "ftp://robot"')  # %config logs what it refuses
    assert "'ftp://robot' is not a robot URL" in caplog.text
    assert bare.magics.robot_url == robot_url
    assert current_robot().base_url == robot_url


def test_without_a_robot_the_magics_say_how_to_choose_one(bare: Notebook) -> None:
    ot2_notebook.set_current_robot(None)
    bare.ok("%load_ext ot2_notebook")
    ran = bare.run("%ot2_status")
    assert type(ran.error) is OT2MagicError
    assert "No robot chosen" in str(ran.error) and "%ot2_connect --simulate" in str(ran.error)
    assert_no_traceback(ran)


def test_connect_to_an_unreachable_robot_keeps_the_current_one(
    bare: Notebook, robot_url: str
) -> None:
    bare.ok("%load_ext ot2_notebook")
    shown = bare.ok(f"%ot2_connect {robot_url}").shown
    assert shown.startswith(f"Connected to ot2-sim at {robot_url}\n")
    ran = bare.run("%ot2_connect 127.0.0.1:9")  # a bare address gets http:// (port kept)
    assert isinstance(ran.error, RobotRequestError)
    report = str(ran.error)
    assert report.startswith("Connecting to http://127.0.0.1:9 failed: Cannot reach the robot")
    assert "The kernel's robot was not changed." in report
    assert_no_traceback(ran)
    assert current_robot().base_url == robot_url
    assert bare.ok("%ot2_connect").shown.startswith(f"Connected to ot2-sim at {robot_url}")


def test_help_is_there_for_every_magic(bare: Notebook) -> None:
    bare.ok("%load_ext ot2_notebook")
    for line in (
        "%ot2_connect --help",
        "%ot2_upload --help",
        "%ot2_run -h",
        "%ot2_status --help",
        "%ot2_cleanup --help",
    ):
        shown = bare.ok(line).shown
        assert shown.lstrip().startswith("::\n\n  %" + line.split()[0][1:])
    shown = bare.ok("%%ot2_protocol --help\nthis body is ignored\n").shown
    for option in ("--support", "--part", "--no-upload", "--run", "--wait"):
        assert option in shown
    assert "FILENAME" in bare.ok("%%ot2_support --help\nignored\n").shown.upper()


# -- bad arguments ------------------------------------------------------------------------------

BAD_LINES = [
    ("%ot2_connect --bogus", "unrecognized arguments: --bogus"),
    ("%ot2_connect http://127.0.0.1:31950 --simulate", "not both"),
    ("%ot2_connect --speed 2", "--speed applies to --simulate only"),
    ("%ot2_connect --simulate --speed 0", "positive number"),
    ("%ot2_connect --simulate --speed fast", "invalid float value: 'fast'"),
    ('%ot2_connect "http://robot', "check the quotes"),
    ("%ot2_connect ftp://robot", "is not a robot URL"),
    ("%%ot2_protocol\nx = 1", "the following arguments are required: name"),
    ("%%ot2_protocol ../escape\nx = 1", "contains a folder"),
    ("%%ot2_protocol my protocol\nx = 1", "unrecognized arguments: protocol"),
    ("%%ot2_protocol demo --wait\nx = 1", "--wait needs --run"),
    ("%%ot2_protocol demo --no-upload --run\nx = 1", "contradict"),
    ("%%ot2_protocol demo --support no_such_helpers.py\nx = 1", "no such file"),
    (f"%%ot2_protocol demo --support {PROTOCOLS}\nx = 1", "is not a file"),
    ("%%ot2_protocol demo --support\nx = 1", "expected at least one argument"),
    ("%%ot2_protocol demo --bogus\nx = 1", "unrecognized arguments: --bogus"),
    ("%%ot2_support\nx = 1", "the following arguments are required: filename"),
    ("%%ot2_support ../helpers.py\nx = 1", "contains a folder"),
    ("%%ot2_support .env\nx = 1", "starts with '.'"),
    ("%%ot2_support helpers.py extra.py\nx = 1", "unrecognized arguments: extra.py"),
    ("%%ot2_protocol demo --json --part\n{}", "a JSON protocol is one cell"),
    ("%%ot2_protocol demo --robot nowhere\nx = 1", "--robot nowhere: no robot of that name"),
    ("%ot2_connect --name 'two words' --simulate", "a robot's name is a short word"),
    ("%ot2_connect --default", "--default goes with --name"),
    ("%ot2_upload", "the following arguments are required: protocol"),
    ("%ot2_upload never_defined", "this notebook has no protocol 'never_defined'"),
    ("%ot2_upload no/such/file.py", "no such protocol file"),
    ("%ot2_upload missing.json", "no such protocol file"),
    (f"%ot2_upload {PROTOCOLS / 'dilution_settings.json'}x", "no such protocol file"),
    (f"%ot2_upload {PROTOCOLS.parent / 'recordings' / 'README.md'}", "is not a protocol file"),
    ("%ot2_upload never_defined --support x.py", "--support goes with a protocol file"),
    ("%ot2_run", "the following arguments are required: protocol"),
    ("%ot2_run never_defined", "no protocol 'never_defined' in this notebook"),
    ("%ot2_run demo --bogus", "unrecognized arguments: --bogus"),
    ("%ot2_status now", "unrecognized arguments: now"),
    ("%ot2_status --all --robot x", "--all shows every robot"),
    ("%ot2_cleanup --robot nowhere", "--robot nowhere: no robot of that name"),
    ("%ot2_cleanup everything", "unrecognized arguments: everything"),
]


@pytest.mark.parametrize("name", [".hidden.py", "a/b.py"])
def test_the_magics_refuse_a_file_name_in_the_clients_words(bare: Notebook, name: str) -> None:
    from ot2_notebook.client import RobotClient
    from ot2_notebook.names import file_name_problem

    bare.ok("%load_ext ot2_notebook")
    ran = bare.run(f"%%ot2_support {name}\nx = 1")
    assert type(ran.error) is UsageError
    rule = file_name_problem(name, "support file")
    assert rule is not None
    assert str(ran.error) == f"%%ot2_support: {rule}."
    with pytest.raises(ValueError) as caught:  # nothing listens on port 9: nothing is sent
        RobotClient("http://127.0.0.1:9").upload(("p.py", "x = 1"), support=[(name, "x = 1")])
    assert str(caught.value).lower() == f"{rule}.".lower()


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_every_bad_argument_is_a_usage_error(
    notebook: Notebook,  # noqa: F811
    api: Api,
    line: str,
    message: str,
) -> None:
    ran = notebook.run(line)
    assert type(ran.error) is UsageError, repr(ran.error)
    assert message in str(ran.error)
    magic = line.split()[0]
    assert str(ran.error).startswith(magic + ":")
    assert ran.shown.strip().startswith("UsageError: " + magic)  # printed without traceback
    assert_no_traceback(ran)
    assert notebook.magics.bundle.names() == []
    assert protocols_on(api) == {}


# -- what the robot holds when an upload fails ---------------------------------------------------


def test_a_failed_replacement_says_the_old_version_is_gone(
    bare: Notebook, start_sim: Callable[..., SimulatorHandle], tmp_path: Path
) -> None:
    sim = start_sim(max_upload_mb=1, analysis_timeout=20)
    bare.ok("%load_ext ot2_notebook")
    bare.ok(f"%ot2_connect {sim.url}")
    cell = """
        %%ot2_protocol plate_log {flags}
        metadata = {{"apiLevel": "2.13"}}

        def run(ctx):
            ctx.comment(open("plate_log.csv").readline())
    """
    small = tmp_path / "plate_log.csv"
    small.write_text("well,volume\n")
    bare.ok(cell.format(flags=f"--support {small}"))
    big = tmp_path / "big" / "plate_log.csv"
    big.parent.mkdir()
    big.write_text("well,volume\n" + "A1,100\n" * 200_000)  # 1.4 MB: over the robot's limit
    ran = bare.run(cell.format(flags=f"--support {big}"))
    error = ran.error
    assert isinstance(error, RobotRequestError)
    assert error.robot_error.status == 413
    assert "Protocol 'plate_log' is no longer on the robot" in str(error)
    assert_no_traceback(ran)
    with Api(sim.url) as api:
        assert protocols_on(api) == {}


def test_a_full_robot_is_explained_and_left_as_it_was(
    bare: Notebook, start_sim: Callable[..., SimulatorHandle]
) -> None:
    """The strict setting: a full robot is never emptied for an upload, and the error names
    what is in the way (making room is tested in tests/test_magics_workspace.py)."""
    sim = start_sim(analysis_timeout=20)  # keeps one protocol, as an OT-2 does
    bare.ok("%load_ext ot2_notebook")
    bare.ok("%config OT2Magics.make_room = False")
    bare.ok(f"%ot2_connect {sim.url}")
    bare.ok(PAUSING_CELL.format(flags=""))
    ran = bare.run(PAUSING_CELL.replace("hold", "second_hold").format(flags=""))
    error = ran.error
    assert isinstance(error, RobotRequestError)
    assert isinstance(error.robot_error, UploadLimitError)
    report = str(error)
    assert "Protocol 'second_hold' is not on the robot." in report
    assert "The robot keeps at most 1 protocol; this upload needs one place freed." in report
    assert (
        "  - 'hold': uploaded by this notebook and not in use, kept because "
        "OT2Magics.make_room is off; %ot2_cleanup removes it"
    ) in report
    assert_no_traceback(ran)
    with Api(sim.url) as api:
        assert list(protocols_on(api)) == ["hold"]


# -- the simulated robot the extension starts -----------------------------------------------------


def test_connect_simulate_starts_reuses_and_unload_stops_it(bare: Notebook) -> None:
    bare.ok("%load_ext ot2_notebook")
    shown = bare.ok("%ot2_connect --simulate").shown
    assert "(simulated robot started by this notebook)" in shown
    assert "HTTP protocol sessions: enabled" in shown
    first: SimulatorHandle = bare.magics.connection.simulator
    assert first.running and current_robot().base_url == first.url
    bare.ok("%ot2_connect --simulate")
    assert bare.magics.connection.simulator is first  # reused

    threads_before = set(threading.enumerate())
    bare.ok(PAUSING_CELL.format(flags="--run"))  # a live run panel: watcher and feed threads
    with Api(first.url) as api:
        wait_until(
            lambda: api.get("/sessions").json()["data"][0]["details"]["currentState"] == "paused"
        )
    panel_threads = set(threading.enumerate()) - threads_before
    assert panel_threads

    restarted = bare.ok("%ot2_connect --simulate --speed 50").shown
    assert "Restarting the simulated robot" in restarted
    second: SimulatorHandle = bare.magics.connection.simulator
    assert second is not first and second.running and not first.running
    assert current_robot().base_url == second.url

    bare.ok("%unload_ext ot2_notebook")
    assert not second.running
    with pytest.raises(NoCurrentRobotError):
        current_robot()
    wait_until(lambda: not any(t.is_alive() for t in panel_threads), timeout=20)


def test_connect_simulate_passes_the_environment_settings_and_shows_progress(
    bare: Notebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``simulator_python`` and ``simulator_command`` reach ``simulator.start()`` only when
    set, and the start-up's progress lines appear in the cell's output as they arrive.

    A spy stands in front of the real ``start()``: it records the call, reports two progress
    lines the way an environment set-up does (checking each is in the cell's output at
    once), then starts the real simulated robot (without the two settings, whose effect is
    the simulator launcher's own business and tested there)."""
    import ot2_notebook.simulator as simulator

    real_start = simulator.start
    calls: list[dict[str, Any]] = []
    seen_at_once: list[bool] = []

    def spy(port: int = 0, **kwargs: Any) -> SimulatorHandle:
        calls.append({"port": port, **kwargs})
        progress = kwargs.pop("progress")
        for line in ("Creating the simulator's environment", "Installing opentrons"):
            progress(line)
            seen_at_once.append(line in sys.stdout.getvalue())  # type: ignore[attr-defined]
        kwargs.pop("python", None)
        kwargs.pop("command", None)
        return real_start(port, **kwargs)

    monkeypatch.setattr(simulator, "start", spy)
    bare.ok("%load_ext ot2_notebook")
    shown = bare.ok("%ot2_connect --simulate").shown
    assert "Creating the simulator's environment\nInstalling opentrons\n" in shown
    assert seen_at_once == [True, True]
    assert calls[0]["port"] == 0
    assert "python" not in calls[0] and "command" not in calls[0]  # not set: not passed
    assert callable(calls[0]["progress"])
    first: SimulatorHandle = bare.magics.connection.simulator

    bare.ok(f'%config OT2Magics.simulator_python = "{sys.executable}"')
    bare.ok('%config OT2Magics.simulator_command = "ot2-sim --log-level info"')
    restarted = bare.ok("%ot2_connect --simulate").shown
    assert "Restarting the simulated robot" in restarted  # new settings, new simulator
    assert calls[1]["python"] == sys.executable
    assert calls[1]["command"] == "ot2-sim --log-level info"
    second: SimulatorHandle = bare.magics.connection.simulator
    assert second is not first and not first.running and second.running
    assert current_robot().base_url == second.url


EXIT_SCRIPT = r"""
from IPython.testing.globalipapp import get_ipython
ip = get_ipython()
assert ip.run_cell("%load_ext ot2_notebook").success
assert ip.run_cell("%ot2_connect --simulate").success
from ot2_notebook.magics import _loaded
print(_loaded[id(ip)].connection.simulator.pid, flush=True)
"""


def test_the_simulator_stops_when_the_kernel_exits() -> None:
    import psutil

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip().splitlines()[-1])
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        timeout=20,
        message=f"the simulated robot (pid {pid}) outlived its kernel",
    )


# -- import hygiene -------------------------------------------------------------------------------

HYGIENE_SCRIPT = r"""
import json, sys
from IPython.testing.globalipapp import get_ipython

def run(code):
    result = ip.run_cell(code, store_history=True)
    assert result.success, (code, result.error_in_exec)

ip = get_ipython()
run("import ot2_notebook\nprint(ot2_notebook.__version__)")
report = {"without": sorted(m for m in sys.modules if m.startswith("ot2_notebook"))}
run("%load_ext ot2_notebook")
report["loaded"] = {m: m in sys.modules for m in ("ot2_notebook.magics", "opentrons",
                                                  "requests", "ipywidgets")}
run("%ot2_connect " + sys.argv[1])
run('''%%ot2_protocol hygiene --run --wait
metadata = {"apiLevel": "2.13"}
def run(ctx):
    ctx.comment("no opentrons in the kernel")
''')
run("%ot2_cleanup")
report["used"] = {m: m in sys.modules for m in ("opentrons", "ipywidgets")}
print(json.dumps(report))
"""


def test_an_unloaded_shell_never_imports_the_extension_and_loading_it_imports_no_opentrons(
    robot_url: str, clean_robot: None
) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(HYGIENE_SCRIPT), robot_url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # the package and its version module: nothing else until the extension is loaded
    assert report["without"] == ["ot2_notebook", "ot2_notebook._version"]
    assert report["loaded"] == {
        "ot2_notebook.magics": True,
        "opentrons": False,
        "requests": False,  # the client is imported on first use
        "ipywidgets": False,  # so are the panels
    }
    assert report["used"] == {"opentrons": False, "ipywidgets": True}
