"""Run a notebook in the kernel of a running Jupyter server, through the server itself: what a
user's "Run All" does in the JupyterLab that `make run` brought up (.ci/run's last stage).

    python .ci/lab_notebook.py URL TOKEN PATH --notebook-file FILE [--timeout S]

It waits until the server answers, checks that it lists PATH (the tutorials are served),
opens a session for PATH with its ``python3`` kernel (REST API), sends every code cell over
the kernel's websocket (Jupyter messaging protocol 5.3) and waits for each reply; a cell
that fails (unless tagged ``raises-exception``, as for nbval: then it must fail), or a reply
that does not come within the timeout, fails the check with the cell's traceback. The
session is deleted at the end (its kernel, and the simulated robot it started, with it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import nbformat
import requests
import websocket


def _wait_ready(http: requests.Session, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if http.get(f"{url}/api/status", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"lab_notebook: no Jupyter server answered on {url} in {timeout:g} s")
        time.sleep(0.5)


def _message(session: str, code: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "ci",
            "session": session,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


def _run_cell(
    ws: websocket.WebSocket, session: str, code: str, timeout: float, *, raises: bool = False
) -> list[str]:
    """Execute ``code``; return the text it printed. Fails on an error (on none, with
    ``raises``) or a timeout."""
    request = _message(session, code)
    msg_id = request["header"]["msg_id"]
    ws.send(json.dumps(request))
    printed: list[str] = []
    errors: list[str] = []
    replied = idle = False
    deadline = time.monotonic() + timeout
    while not (replied and idle):
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            raise SystemExit(f"lab_notebook: no reply within {timeout:g} s to:\n{code}") from None
        if not isinstance(raw, str):
            continue  # binary frames (widget buffers)
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            printed.append(content.get("text", ""))
        elif kind == "error":
            errors.append("\n".join(content.get("traceback") or [content.get("evalue", "")]))
        elif kind == "status" and content.get("execution_state") == "idle":
            idle = True
        elif kind == "execute_reply":
            replied = True
            if content.get("status") != "ok" and not errors:
                errors.append(f"{content.get('ename')}: {content.get('evalue')}")
    if errors and not raises:
        raise SystemExit("lab_notebook: a cell failed:\n" + code + "\n" + "\n".join(errors))
    if raises and not errors:
        raise SystemExit("lab_notebook: a cell tagged raises-exception did not fail:\n" + code)
    return printed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("path", help="the notebook, relative to the server's root folder")
    parser.add_argument("--notebook-file", required=True, help="the same notebook on disk")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    http = requests.Session()
    http.headers["Authorization"] = f"token {args.token}"
    _wait_ready(http, url, timeout=300)
    listed = http.get(f"{url}/api/contents/{args.path}", params={"content": 0}, timeout=30)
    if listed.status_code != 200:
        raise SystemExit(
            f"lab_notebook: the server does not serve {args.path} ({listed.status_code})"
        )
    reply = http.post(
        f"{url}/api/sessions",
        json={"path": args.path, "type": "notebook", "name": "", "kernel": {"name": "python3"}},
        timeout=60,
    )
    reply.raise_for_status()
    session = reply.json()
    kernel_id = session["kernel"]["id"]
    ws_url = url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?token={args.token}"
    ws = websocket.create_connection(
        ws_url, header=[f"Authorization: token {args.token}"], timeout=60
    )
    notebook = nbformat.read(args.notebook_file, as_version=4)
    client_session = uuid.uuid4().hex
    started = time.monotonic()
    try:
        cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
        for number, cell in enumerate(cells, 1):
            t0 = time.monotonic()
            raises = "raises-exception" in cell.get("metadata", {}).get("tags", [])
            _run_cell(ws, client_session, cell.source, args.timeout, raises=raises)
            first = cell.source.strip().splitlines()[0][:60]
            seconds = time.monotonic() - t0
            outcome = "failed as expected" if raises else "ok"
            print(f"lab_notebook: cell {number}/{len(cells)} {outcome} ({seconds:.1f} s): {first}")
    finally:
        ws.close()
        http.delete(f"{url}/api/sessions/{session['id']}", timeout=60)
    print(
        f"lab_notebook: {args.path}: {len(cells)} cells ran in the server's kernel "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
