"""The run panel in a real IPython kernel (ipykernel, over ZMQ, as Jupyter runs it).

What only a kernel shows: the panel's updates, made on its background threads, leave the
kernel as comm messages on IOPub *while the main thread is busy* (a cell blocked until the
run ends), and the displayed panel's ``text/plain`` is the panel's text. No browser: the
test reads the kernel's messages as a frontend would receive them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from ot2_notebook.client import RobotClient
from ot2_notebook.simulator import SimulatorHandle

PROTOCOLS = Path(__file__).resolve().parent / "protocols"


@pytest.fixture
def kernel() -> Iterator[BlockingKernelClient]:
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: BlockingKernelClient, code: str, timeout: float = 90) -> list[dict[str, Any]]:
    """Execute ``code``; return the IOPub messages that arrived until the kernel reported
    the cell done ("idle"), in order. IOPub is one ordered stream, so these were all sent
    while the cell was still running."""
    msg_id = client.execute(code)
    messages = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                break
        if msg["msg_type"] == "error" and msg["parent_header"].get("msg_id") == msg_id:
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        messages.append(msg)
    reply = client.get_shell_msg(timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    return messages


def outputs(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["content"] for m in messages if m["msg_type"] == kind]


def test_live_updates_leave_the_kernel_while_a_cell_waits_for_the_run(
    kernel: BlockingKernelClient, start_sim: Callable[..., SimulatorHandle]
) -> None:
    handle = start_sim(speed=20.0, max_protocols=2)  # slow_steps: 30 steps of 0.1 s
    with RobotClient(handle.url) as robot:
        robot.upload(PROTOCOLS / "slow_steps.py")
        session = robot.create_session("slow_steps").wait_for("loaded", 60)

    first = run_cell(
        kernel,
        "from ot2_notebook import RobotClient\n"
        "from ot2_notebook.widgets import show_run\n"
        f"robot = RobotClient({handle.url!r})\n"
        f"panel = show_run(robot.session({session.id!r}))\n"
        "panel.wait_for('loaded', 60)\n"
        "print(panel.progress.model_id)\n",
    )
    (shown,) = outputs(first, "display_data")
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]
    assert shown["data"]["text/plain"].splitlines()[0] == "RunPanel: Slow steps (slow_steps)"
    progress_id = "".join(o["text"] for o in outputs(first, "stream")).strip()
    opened = {c["comm_id"]: c for c in outputs(first, "comm_open")}
    assert opened[progress_id]["data"]["state"]["_model_name"] == "IntProgressModel"

    # The main thread is now blocked until the run ends; the panel must keep moving: its
    # updates arrive before the kernel says the cell is done.
    second = run_cell(kernel, "panel.buttons['start'].click()\npanel.wait_for('finished', 90)\n")
    values = [
        m["content"]["data"]["state"]["value"]
        for m in second
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == progress_id
        and "value" in m["content"]["data"].get("state", {})
    ]
    assert values[-1] == 30
    assert values == sorted(values)
    assert len([v for v in values if 0 < v < 30]) >= 3, values  # live, not only at the end

    third = run_cell(
        kernel,
        "import json, threading\n"
        "text = panel.text()\n"
        "panel.close()\n"
        "names = [t.name for t in threading.enumerate() if t.name.startswith('ot2-')]\n"
        "print(json.dumps([text, names]))\n",
    )
    text, threads = json.loads("".join(o["text"] for o in outputs(third, "stream")))
    assert text == "\n".join(
        [
            "RunPanel: Slow steps (slow_steps)",
            "  state: finished",
            "  progress: step 30 of 30",
            "  last step: Delaying for 0 minutes and 2.0 seconds. waiting 29",
            "  enabled: start",
        ]
    )
    assert threads == []
    closed = {c["comm_id"] for c in outputs(third, "comm_close")}
    assert progress_id in closed
