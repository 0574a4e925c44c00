"""16 concurrent clients against one real ``ot2-sim``: nothing lost, nothing left behind.

Each client (a thread with its own HTTP connection and its own seeded random choices)
uploads protocols under ids of its own (some with support files, some that fail analysis),
adds files with PATCH, opens sessions and sends them commands (start, pause, resume,
cancel), deletes sessions and protocols, and reads the list; all clients also race to
delete a few shared protocols. The robot runs one session at a time (only the newest takes
commands), so clients take turns to drive a session as an operator would, while the others
go on uploading, patching and deleting; sessions are also opened and deleted out of turn,
and a command refused with 403 "not active" or "Can't execute ... during state" is the
robot's rule, not a failure.

Afterwards: every protocol whose upload returned 201 and that was not deleted is listed,
and nothing else; every delete that succeeded returned that protocol, and each shared one
was deleted exactly once; no answer was a 5xx; and the worker pool is back to its spare
workers, every other worker process seen during the load gone (no orphan, no zombie).
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest
import requests

from ot2_notebook import session_states as states
from ot2_notebook.simulator import SimulatorHandle, start
from tests.conftest import EXAMPLES, Api, wait_until

CLIENTS = 16
STEPS_PER_CLIENT = 8
SPARES = 2
SHARED = [f"shared_{n}" for n in range(4)]


@pytest.fixture(scope="module")
def busy_sim() -> Iterator[SimulatorHandle]:
    with start(port=0, max_protocols=1000, analysis_timeout=60, spare_workers=SPARES) as handle:
        yield handle


def forkserver(handle: SimulatorHandle) -> psutil.Process:
    [child] = [
        c
        for c in psutil.Process(handle.pid).children()
        if "multiprocessing.forkserver" in " ".join(c.cmdline())
    ]
    return child


def live_workers(handle: SimulatorHandle) -> set[int]:
    pids = set()
    for worker in forkserver(handle).children():
        try:
            if worker.status() != psutil.STATUS_ZOMBIE:
                pids.add(worker.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def all_children(handle: SimulatorHandle) -> set[int]:
    """Every child process of the forkserver, running or not yet reaped (zombie)."""
    return {worker.pid for worker in forkserver(handle).children()}


class WorkerCensus:
    """Samples the worker processes while the load runs, to check afterwards that every
    one of them but the spares is gone."""

    def __init__(self, handle: SimulatorHandle) -> None:
        self.handle = handle
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="test-census", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.seen |= live_workers(self.handle)
            except psutil.Error:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Ledger:
    """What one client did and what the robot answered."""

    uploaded: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)
    commands: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def live(self) -> set[str]:
        return self.uploaded - self.deleted


UPLOADS: list[tuple[str, ...]] = [
    ("moves.py",),
    ("raises.py",),
    ("serial_dilution.py", "dilution_helpers.py", "dilution_settings.json"),
    ("long_run.py",),
]


class Client:
    def __init__(
        self,
        index: int,
        url: str,
        ledger: Ledger,
        shared_deletes: list[str],
        turns: threading.Lock,
    ) -> None:
        self.index = index
        self.turns = turns
        self.api = Api(url)
        self.ledger = ledger
        self.shared_deletes = shared_deletes
        self.rng = random.Random(1000 + index)
        self.count = 0

    def check(self, reply: requests.Response, expected: tuple[int, ...], what: str) -> bool:
        self.ledger.statuses[reply.status_code] += 1
        if reply.status_code not in expected:
            self.ledger.problems.append(f"{what}: {reply.status_code} {reply.text[:300]}")
            return False
        return True

    # -- actions -------------------------------------------------------------------------
    def upload(self) -> None:
        self.count += 1
        protocol_id = f"c{self.index}_{self.count}"
        first, *support = self.rng.choice(UPLOADS)
        files = [("protocolFile", (f"{protocol_id}.py", _read(first)))]
        files += [("supportFiles", (name, _read(name))) for name in support]
        reply = self.api.post("/protocols", files=files)
        if self.check(reply, (201,), f"upload {protocol_id}"):
            assert reply.json()["data"]["id"] == protocol_id
            self.ledger.uploaded.add(protocol_id)

    def delete(self) -> None:
        if not self.ledger.live:
            return self.upload()
        protocol_id = self.rng.choice(sorted(self.ledger.live))
        reply = self.api.delete(f"/protocols/{protocol_id}")
        if self.check(reply, (200,), f"delete {protocol_id}"):
            returned = reply.json()["data"]["id"]
            if returned != protocol_id:
                self.ledger.problems.append(f"delete {protocol_id} returned {returned}")
            self.ledger.deleted.add(protocol_id)

    def delete_shared(self) -> None:
        protocol_id = self.rng.choice(SHARED)
        reply = self.api.delete(f"/protocols/{protocol_id}")
        if self.check(reply, (200, 404), f"delete {protocol_id}") and reply.status_code == 200:
            assert reply.json()["data"]["id"] == protocol_id
            self.shared_deletes.append(protocol_id)

    def patch(self) -> None:
        if not self.ledger.live:
            return self.upload()
        protocol_id = self.rng.choice(sorted(self.ledger.live))
        note = f"client {self.index} was here".encode()
        reply = self.api.patch(f"/protocols/{protocol_id}", files=[("file", ("notes.txt", note))])
        self.check(reply, (200,), f"patch {protocol_id}")

    def read(self) -> None:
        reply = self.api.get("/protocols")
        if self.check(reply, (200,), "list"):
            listed = {p["id"] for p in reply.json()["data"]}
            missing = self.ledger.live - listed
            if missing:
                self.ledger.problems.append(f"own protocols not listed mid-load: {missing}")

    def open_session(self) -> str | None:
        protocol_id = self.rng.choice(sorted(self.ledger.live))
        reply = self.api.post(
            "/sessions",
            json={"data": {"sessionType": "protocol", "createParams": {"protocolId": protocol_id}}},
        )
        if not self.check(reply, (201,), f"session of {protocol_id}"):
            return None
        return str(reply.json()["data"]["id"])

    def close_session(self, session_id: str) -> None:
        reply = self.api.delete(f"/sessions/{session_id}")
        self.check(reply, (200,), f"delete session {session_id}")

    def session(self) -> None:
        """A session used as an operator would: load, start, pause/resume/cancel, delete.
        Clients take turns (the robot runs one session at a time); everything else the
        other clients do goes on meanwhile."""
        if not self.ledger.live:
            return self.upload()
        with self.turns:
            session_id = self.open_session()
            if session_id is None:
                return
            details = self.api.wait_for_state(session_id, "loaded", "error")["details"]
            if details["currentState"] == "loaded":
                self.command(session_id, states.START_RUN)
                for command in self.rng.sample(
                    [states.PAUSE, states.RESUME, states.CANCEL], k=self.rng.randint(0, 3)
                ):
                    self.command(session_id, command)
            self.close_session(session_id)  # cancels a run still going

    def session_in_passing(self) -> None:
        """A session opened and deleted at once, out of turn (often while it loads)."""
        if not self.ledger.live:
            return self.upload()
        session_id = self.open_session()
        if session_id is not None:
            self.close_session(session_id)

    def command(self, session_id: str, command: str) -> None:
        reply = self.api.command(session_id, command)
        if not self.check(reply, (200, 403), f"{command} on {session_id}"):
            return
        if reply.status_code == 403:
            detail = reply.json()["errors"][0]["detail"]
            if "is not active" not in detail and "Can't execute" not in detail:
                self.ledger.problems.append(f"{command}: unexpected refusal {detail}")
            self.ledger.commands[f"{command} refused"] += 1
        else:
            self.ledger.commands[command] += 1

    def run(self, barrier: threading.Barrier) -> None:
        actions: list[Callable[[], None]] = [
            self.upload,
            self.upload,
            self.session,
            self.session,
            self.session_in_passing,
            self.delete,
            self.delete_shared,
            self.patch,
            self.read,
        ]
        self.api.get("/health")  # connected before the start line
        barrier.wait()
        try:
            self.upload()
            for _ in range(STEPS_PER_CLIENT):
                self.rng.choice(actions)()
        finally:
            self.api.close()


def _read(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def test_sixteen_clients_lose_no_protocol_and_leave_no_worker(busy_sim: SimulatorHandle) -> None:
    with Api(busy_sim.url) as api:
        for protocol_id in SHARED:
            reply = api.post(
                "/protocols", files=[("protocolFile", (f"{protocol_id}.py", _read("moves.py")))]
            )
            assert reply.status_code == 201, reply.text

    ledgers = [Ledger() for _ in range(CLIENTS)]
    shared_deletes: list[str] = []
    turns = threading.Lock()
    clients = [Client(i, busy_sim.url, ledgers[i], shared_deletes, turns) for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    failures: list[BaseException] = []

    def body(client: Client) -> None:
        try:
            client.run(barrier)
        except BaseException as exc:  # re-raised below, in the test's own thread
            failures.append(exc)
            barrier.abort()

    census = WorkerCensus(busy_sim)
    threads = [
        threading.Thread(target=body, args=(c,), name=f"test-client-{c.index}") for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    census.stop()
    assert not any(t.is_alive() for t in threads), "a client is stuck"
    if failures:
        raise failures[0]

    statuses = sum((ledger.statuses for ledger in ledgers), collections.Counter())
    problems = [p for ledger in ledgers for p in ledger.problems]
    commands = sum((ledger.commands for ledger in ledgers), collections.Counter())
    assert not problems, problems[:10]
    assert not any(code >= 500 for code in statuses), statuses
    # the load really mixed everything (each client's choices are seeded, so this is stable)
    assert statuses[201] >= CLIENTS and commands[states.START_RUN] > 0, (statuses, commands)
    assert commands[states.PAUSE] + commands[states.CANCEL] > 0, commands  # mid-run controls

    with Api(busy_sim.url) as api:
        listed = {p["id"] for p in api.get("/protocols").json()["data"]}
        uploaded = set().union(*(ledger.uploaded for ledger in ledgers))
        deleted = set().union(*(ledger.deleted for ledger in ledgers))
        assert listed == (uploaded - deleted) | (set(SHARED) - set(shared_deletes)), {
            "missing": (uploaded - deleted) - listed,
            "unexpected": listed - (uploaded - deleted) - set(SHARED),
        }
        assert len(shared_deletes) == len(set(shared_deletes)), "a protocol was deleted twice"
        assert api.get("/sessions").json()["data"] == []

    # no orphan: the forkserver's only children (zombies included) are the spares again,
    # after many more workers came and went during the load
    wait_until(
        lambda: len(all_children(busy_sim)) == SPARES == len(live_workers(busy_sim)),
        timeout=30,
        message=lambda: f"workers left after the load: {all_children(busy_sim)}",
    )
    assert len(census.seen) > SPARES + CLIENTS, f"the census saw only {len(census.seen)} workers"
    assert not (census.seen - live_workers(busy_sim)) & all_children(busy_sim)


# -- the upload limit under concurrent uploads ---------------------------------------------------

PARALLEL_UPLOADS = 8


@pytest.mark.parametrize("same_id", [False, True], ids=["different ids", "one id"])
def test_parallel_uploads_at_the_limit_store_exactly_one(start_sim: Any, same_id: bool) -> None:
    """With the robot's limit of one protocol, N uploads at once: one 201, the others 403,
    one protocol stored. The id is reserved before the files are written and analysed, so
    no second upload can slip in while the first one is being analysed."""
    handle = start_sim(max_protocols=1, spare_workers=PARALLEL_UPLOADS)
    source = _read("moves.py")
    barrier = threading.Barrier(PARALLEL_UPLOADS)
    replies: dict[int, requests.Response] = {}

    def upload(n: int) -> None:
        name = "racer.py" if same_id else f"racer_{n}.py"
        with Api(handle.url) as api:
            barrier.wait(timeout=60)
            replies[n] = api.post("/protocols", files=[("protocolFile", (name, source))])

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(PARALLEL_UPLOADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(replies) == PARALLEL_UPLOADS, "an upload never answered"

    created = [n for n, reply in replies.items() if reply.status_code == 201]
    refused = [reply for reply in replies.values() if reply.status_code == 403]
    assert len(created) == 1, {n: r.status_code for n, r in replies.items()}
    assert len(refused) == PARALLEL_UPLOADS - 1, {n: r.text for n, r in replies.items()}
    for reply in refused:
        [error] = reply.json()["errors"]
        if same_id:
            assert error["title"] == "Resource Exists", error
        else:
            assert error["detail"] == "Upload limit of 1 has been reached.", error
    winner = replies[created[0]].json()["data"]["id"]
    with Api(handle.url) as api:
        assert [p["id"] for p in api.get("/protocols").json()["data"]] == [winner]
