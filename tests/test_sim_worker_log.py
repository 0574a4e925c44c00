"""A worker's own failures go to the simulator's log, never into the protocol's output.

Run in the simulator's environment (``OT2_SIM_PYTHON``), set up as a worker is once it has
its job: ``process.log_to_simulator()``, then the protocol's output captured (``sys.stdout``
and ``sys.stderr`` replaced). Then the simulator fails to close a job's hardware
(``engine._close_hardware`` of something that is no hardware simulator): the protocol did
nothing wrong, so its output must stay empty and the failure must reach the log, named with
the worker's process id.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap

SCRIPT = textwrap.dedent(
    """
    import io, os, sys
    from ot2_notebook.simulator.workers import engine, process

    process.log_to_simulator()
    captured = io.StringIO()
    sys.stdout = sys.stderr = captured
    engine._close_hardware(object())
    sys.__stdout__.write(f"pid={os.getpid()} captured={captured.getvalue()!r}\\n")
    """
)


def test_a_failure_closing_the_hardware_goes_to_the_simulators_log_not_the_output() -> None:
    done = subprocess.run(
        [os.environ["OT2_SIM_PYTHON"], "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(r"pid=(\d+) captured=(.*)\n", done.stdout)
    assert found, done.stdout
    pid, captured = found.groups()
    assert captured == "''", "the simulator's failure leaked into the protocol's output"
    logged = done.stderr
    assert (
        f"ot2-sim: worker {pid}: ot2_notebook.simulator.workers.engine: "
        "closing the hardware simulator failed"
    ) in logged, logged
    assert "Traceback" in logged and "AttributeError" in logged, logged
