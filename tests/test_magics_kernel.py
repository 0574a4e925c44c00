"""The magics in a real Jupyter kernel (ipykernel), driven over its messaging protocol as
JupyterLab drives it: execute requests carry the cell id in their metadata (``cellId``),
outputs and errors come back on IOPub.

This is the path the shell tests cannot take: cell ids reaching the extension through
ipykernel, and the error report arriving as the ``traceback`` of an ``error`` message.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jupyter_client.manager import KernelManager, start_new_kernel

from tests.conftest import Api
from tests.test_magics_workflow import (
    PART_ONE,
    PART_THREE_FAILS_ON_ROBOT,
    PART_THREE_FIXED,
    PART_TWO,
    protocols_on,
    sessions_on,
)


@dataclass
class Reply:
    """What one execute request produced."""

    status: str
    execution_count: int | None
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def texts(self) -> str:
        parts = []
        for msg_type, content in ((o["msg_type"], o["content"]) for o in self.outputs):
            if msg_type in ("display_data", "update_display_data", "execute_result"):
                parts.append(content["data"].get("text/plain", ""))
            elif msg_type == "stream":
                parts.append(content["text"])
            elif msg_type == "error":
                parts.append("\n".join(content["traceback"]))
        return "\n".join(parts)

    def error(self) -> dict[str, Any] | None:
        return next((o["content"] for o in self.outputs if o["msg_type"] == "error"), None)


class Kernel:
    """A kernel client that sends execute requests the way JupyterLab does."""

    def __init__(self, manager: KernelManager, client: Any) -> None:
        self.manager = manager
        self.client = client

    def execute(self, code: str, cell_id: str | None = None, timeout: float = 120) -> Reply:
        content = {
            "code": code.strip("\n") + "\n",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        metadata = {"cellId": cell_id} if cell_id else {}
        msg = self.client.session.msg("execute_request", content, metadata=metadata)
        self.client.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        outputs: list[dict[str, Any]] = []
        count = None
        while True:  # IOPub until the kernel is idle again for this request
            try:
                message = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no output within {timeout} s for {code[:40]!r}") from None
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "status" and message["content"]["execution_state"] == "idle":
                break
            if kind == "execute_input":
                count = message["content"]["execution_count"]
            elif kind in ("display_data", "update_display_data", "stream", "error"):
                outputs.append({"msg_type": kind, "content": message["content"]})
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            # A loaded machine can leave a late answer to the kernel_info requests that
            # start_new_kernel repeats while it waits for the kernel: skip it.
            if reply["parent_header"].get("msg_id") == msg_id:
                break
            assert reply["msg_type"] == "kernel_info_reply", reply["msg_type"]
        return Reply(reply["content"]["status"], count, outputs)

    def ok(self, code: str, cell_id: str | None = None) -> Reply:
        reply = self.execute(code, cell_id)
        assert reply.status == "ok", reply.texts()
        return reply


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_cell_ids_from_the_front_end_key_the_parts_and_errors_name_the_cell(
    kernel: Kernel, robot_url: str, api: Api, clean_robot: None
) -> None:
    kernel.ok("%load_ext ot2_notebook")
    kernel.ok(f"%ot2_connect {robot_url}")
    kernel.ok(PART_ONE, cell_id="cell-one")
    kernel.ok(PART_TWO, cell_id="cell-two")
    third = kernel.ok(PART_THREE_FAILS_ON_ROBOT, cell_id="cell-three")
    assert "stamp.py: part 3 of 3." in third.texts()

    failed = kernel.execute("%ot2_upload stamp")
    assert failed.status == "error"
    error = failed.error()
    assert error is not None and error["ename"] == "CellAnalysisError"
    traceback = error["traceback"]
    assert traceback[0] == "CellAnalysisError: Protocol 'stamp' failed analysis on the robot."
    assert (
        traceback[1] == f"In [{third.execution_count}], line 4 (part 3 of 3 of stamp.py, line 11):"
    )
    assert traceback[2] == '    pipette.transfer(50, source["A1"], target["A13"])'
    assert not any("Traceback" in line or 'File "' in line for line in traceback)

    # The scientist edits the third cell in place and runs it again, then the first one.
    fixed = kernel.ok(PART_THREE_FIXED, cell_id="cell-three")
    assert f"stamp.py: part 3 of 3 (replaces In [{third.execution_count}])." in fixed.texts()
    assert "stamp.py: part 1 of 3 (replaces In [" in kernel.ok(PART_ONE, cell_id="cell-one").texts()
    keys = kernel.ok(
        "from ot2_notebook.magics import _loaded\n"
        "print([p.cell.key for p in _loaded[id(get_ipython())].bundle.parts('stamp')])"
    )
    assert "['id:cell-one', 'id:cell-two', 'id:cell-three']" in keys.texts()

    ran = kernel.ok("%ot2_run stamp --wait")
    kinds = [o["msg_type"] for o in ran.outputs]
    assert "update_display_data" in kinds  # the run panel re-sent once the run ended
    panel = next(o["content"] for o in ran.outputs if o["msg_type"] == "update_display_data")
    assert "application/vnd.jupyter.widget-view+json" in panel["data"]
    assert "state: finished" in panel["data"]["text/plain"]
    assert list(protocols_on(api)) == ["stamp"]
    assert [s["details"]["currentState"] for s in sessions_on(api)] == ["finished"]

    kernel.ok("%ot2_cleanup")
    assert protocols_on(api) == {} and sessions_on(api) == []
    kernel.ok("%unload_ext ot2_notebook")
