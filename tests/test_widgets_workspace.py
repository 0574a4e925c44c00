"""The run panel's time that matters, on a real paced run: the time left in a delay (at the
simulated robot's pace, which it tells in ``GET /health``), and "waiting for you" while the
protocol's own ``ctx.pause()`` waits. Widget state is read from the real ipywidgets objects;
the Resume click arrives as a browser's does (``Button.click()``)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import SimulatorHandle
from ot2_notebook.widgets import RunPanel
from tests.conftest import wait_until

DELAY_AND_PAUSE = """
metadata = {"apiLevel": "2.13", "protocolName": "Incubate, then check"}

def run(ctx):
    ctx.comment("start")
    ctx.delay(minutes=1, msg="incubate")
    ctx.pause("check the plate")
    ctx.comment("done")
"""


def test_a_delay_counts_down_and_a_protocol_pause_waits_for_you(
    start_sim: Callable[..., SimulatorHandle],
) -> None:
    sim = start_sim(speed=8, analysis_timeout=20)  # the 1 min delay lasts 7.5 s here
    with RobotClient(sim.url) as robot:
        protocol = robot.upload(("incubate.py", DELAY_AND_PAUSE))
        session = robot.create_session(protocol.id).wait_for("loaded", timeout=60)
        panel = RunPanel(session, protocol=protocol)
        try:
            assert panel.tracker.pace == 8.0  # read from the simulator's health
            panel.buttons["start"].click()
            shown = wait_until(  # what the widget shows, drawn by the panel's own thread
                lambda: re.search(r"Delay of 1 min 00 s: (\d+) s left", panel.step_view.value),
                timeout=30,
                message=lambda: f"no delay countdown shown:\n{panel.step_view.value}",
            )
            assert 0 <= int(shown.group(1)) <= 8  # robot time divided by the pace, not 60 s
            assert 'class="ot2-run-step-time"' in panel.step_view.value

            panel.wait_for("paused", timeout=60)
            text = panel.text()
            assert "state: paused (waiting for you)" in text
            assert "step time: Waiting for you: check the plate. Press Resume when ready." in text
            assert ">paused (waiting for you)</span>" in panel.state_view.value
            assert "ot2-state-paused" in panel.state_view.value
            assert panel.enabled_buttons() == {"resume", "cancel"}

            panel.buttons["resume"].click()
            panel.wait_for("finished", timeout=60)
            final = panel.text()
            assert "waiting for you" not in final and "step time" not in final
        finally:
            panel.close()
        assert panel.threads == []
