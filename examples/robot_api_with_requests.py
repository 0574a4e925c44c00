"""The robot's HTTP protocol API with nothing but ``requests``: the documented workflow.

Upload a protocol with support files, create a protocol session, wait until it is loaded,
start the run, wait until it finishes, then delete the session and the protocol; then a
longer protocol is paused, resumed and cancelled. Works against a real OT-2 (robot
software 4.x, HTTP protocol sessions enabled, a P300 Single GEN2 on the right mount: the
protocols are at API level 2.11) and against ``ot2-sim`` (whose default hardware has it):

    ot2-sim --speed 20 &        # or: ot2-sim --robot-like, which behaves as robot-server 4.7
    python examples/robot_api_with_requests.py [http://127.0.0.1:31950]

The run is resumed before it is cancelled: a cancel (or DELETE) of a *paused* session hangs
robot software 4.x for good, and a cancel of a running one holds the robot until the
protocol's thread ends (seconds), so no timeout is set on these requests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
PROTOCOLS = HERE.parent / "tests" / "protocols"
BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:31950"
http = requests.Session()
http.headers["Opentrons-Version"] = "2"


def check(reply: requests.Response, status: int) -> dict:
    if reply.status_code != status:
        raise SystemExit(f"{reply.request.method} {reply.url}: {reply.status_code} {reply.text}")
    return reply.json()


def state(session_id: str) -> str:
    body = check(http.get(f"{BASE}/sessions/{session_id}"), 200)
    return body["data"]["details"]["currentState"]


def wait_for(session_id: str, wanted: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (now := state(session_id)) != wanted:
        if now == "error" or time.monotonic() > deadline:
            raise SystemExit(f"session {session_id} is {now!r}, not {wanted!r}")
        time.sleep(0.1)
    print(f"  session is {wanted}")


def command(session_id: str, name: str) -> None:
    body = {"data": {"command": name, "data": {}}}
    check(http.post(f"{BASE}/sessions/{session_id}/commands/execute", json=body), 200)
    print(f"  {name}")


def upload(protocol: str, *support: str) -> str:
    files = [("protocolFile", (protocol, (PROTOCOLS / protocol).read_bytes()))]
    files += [("supportFiles", (name, (PROTOCOLS / name).read_bytes())) for name in support]
    data = check(http.post(f"{BASE}/protocols", files=files), 201)["data"]
    if data["errors"]:
        raise SystemExit(f"analysis errors: {data['errors']}")
    print(f"uploaded {data['id']}: {len(data['requiredEquipment']['labware'])} labware")
    return data["id"]


def new_session(protocol_id: str) -> str:
    body = {"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}}
    return check(http.post(f"{BASE}/sessions", json=body), 201)["data"]["id"]


def main() -> None:
    print("health:", check(http.get(f"{BASE}/health"), 200)["api_version"])
    protocol_id = upload("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json")
    session_id = new_session(protocol_id)
    wait_for(session_id, "loaded")
    command(session_id, "protocol.startRun")
    wait_for(session_id, "finished")
    check(http.delete(f"{BASE}/sessions/{session_id}"), 200)
    check(http.delete(f"{BASE}/protocols/{protocol_id}"), 200)
    print("deleted the session and the protocol")

    protocol_id = upload("long_run.py")
    session_id = new_session(protocol_id)
    wait_for(session_id, "loaded")
    command(session_id, "protocol.startRun")
    wait_for(session_id, "running")
    command(session_id, "protocol.pause")
    wait_for(session_id, "paused")
    command(session_id, "protocol.resume")
    wait_for(session_id, "running")  # never cancel a paused run on a 4.x robot: it hangs
    command(session_id, "protocol.cancel")
    wait_for(session_id, "stopped")
    check(http.delete(f"{BASE}/sessions/{session_id}"), 200)
    check(http.delete(f"{BASE}/protocols/{protocol_id}"), 200)
    print("done")


if __name__ == "__main__":
    main()
