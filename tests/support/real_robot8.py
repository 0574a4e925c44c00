"""The Done-when checks of issue 17, by hand, against a robot on software 5+ that CI does not
have: the real robot-server 8.1.0 (``/work/shared/tools/real_robot_8.sh start PORT``), or a
real OT-2 on robot software 7/8 (with an empty deck: the seed protocol moves the pipette).

    python -m tests.support.real_robot8 http://127.0.0.1:31970

1. the seed example as magics, in a real IPython shell: its helper module and JSON config in
   ``%%ot2_support`` cells, the protocol in a ``%%ot2_protocol basic_transfer --run --wait``
   cell, which must finish;
2. an analysis error in the helper cell, which must point at that cell and its line;
3. a run panel of a run with delays (API 2.20: they really wait on robot software 8), paused,
   resumed and cancelled by clicking its buttons.

Prints what each step showed and ends with status 0 when every check held. It deletes what
it created (``%ot2_cleanup``), and nothing else.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Any

PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"
SLOW = """metadata = {"apiLevel": "2.20", "protocolName": "Slow steps"}
def run(ctx):
    for index in range(30):
        ctx.delay(seconds=0.5, msg=f"waiting {index}")
"""


def _cell(shell: Any, source: str, cell_id: str | None = None) -> Any:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(textwrap.dedent(source).strip("\n") + "\n", True, cell_id=cell_id)
    print(f"--- {source.strip().splitlines()[0]}: {'ok' if result.success else 'FAILED'}")
    for output in captured.outputs:
        print(textwrap.indent(output.data.get("text/plain", ""), "    "))
    if captured.stdout.strip():
        print(textwrap.indent(captured.stdout, "    "))
    return result


def _until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def main(url: str) -> int:
    from IPython.testing import globalipapp

    import ot2_notebook
    from ot2_notebook.widgets import RunPanel

    shell = globalipapp.get_ipython()
    helpers = (PROTOCOLS / "helpers.py").read_text()
    config = (PROTOCOLS / "basic_transfer_config.json").read_text()
    protocol = (PROTOCOLS / "basic_transfer.py").read_text()
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("PASS " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    _cell(shell, "%load_ext ot2_notebook")
    check(_cell(shell, f"%ot2_connect {url}").success, "connect")
    robot = ot2_notebook.current_robot()
    check(robot.uses_runs_api, f"the robot speaks /protocols + /runs ({robot.software})")

    # 1. the seed example as magics
    helper = _cell(shell, f"%%ot2_support helpers.py\n{helpers}", "helpers")
    _cell(shell, f"%%ot2_support basic_transfer_config.json\n{config}", "config")
    ran = _cell(shell, f"%%ot2_protocol basic_transfer --run --wait\n{protocol}", "protocol")
    check(ran.success, "the seed example as magics runs to completion")
    runs = [s for s in robot.sessions() if s.protocol_id == "basic_transfer"]
    statuses = [(s.id, s.robot_status) for s in runs]
    check([status for _, status in statuses] == ["succeeded"], f"its run succeeded: {statuses}")

    # 2. an analysis error in the helper cell
    bad = helpers.replace(
        "    with open(name, 'rb') as f:",
        "    raise ValueError('no configuration named ' + name)\n    with open(name, 'rb') as f:",
    )
    helper = _cell(shell, f"%%ot2_support helpers.py\n{bad}", "helpers")
    failed = _cell(shell, f"%%ot2_protocol basic_transfer\n{protocol}", "protocol")
    error = failed.error_in_exec
    check(
        getattr(error, "execution_count", None) == helper.execution_count
        and getattr(error, "cell_line", None) == 6,
        f"the analysis error points at the helper cell In [{helper.execution_count}], line 6: "
        f"{str(error).splitlines()[1] if error else None}",
    )

    # 3. pause, resume and cancel from the run panel
    slow = robot.upload(("slow_steps.py", SLOW), replace=True)
    session = robot.create_session(slow)
    panel = RunPanel(session)
    try:
        panel.wait_for("loaded", 30)
        panel.buttons["start"].click()
        panel.wait_for("running", 30)
        _until(lambda: panel.tracker.index >= 2)
        panel.buttons["pause"].click()
        panel.wait_for("paused", 30)
        check(session.refresh().robot_status == "paused", "paused from the panel")
        reached = panel.tracker.index
        panel.buttons["resume"].click()
        panel.wait_for("running", 30)
        _until(lambda: panel.tracker.index > reached)
        check(True, "resumed from the panel")
        panel.buttons["cancel"].click()
        panel.wait_for("stopped", 30)
        _until(lambda: session.refresh().robot_status == "stopped")
        check(panel.last_error is None, "cancelled from the panel")
        check(panel.watcher is None or panel.watcher.mode == "feed", "the panel followed MQTT")
        print(textwrap.indent(panel.text(), "    "))
    finally:
        panel.close()
        session.delete()
        slow.delete()
        _cell(shell, "%ot2_cleanup")
        _cell(shell, "%unload_ext ot2_notebook")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.support.real_robot8 http://ROBOT_IP:31950")
    sys.exit(main(sys.argv[1]))
