"""``inline_hardware.run_here``: a hardware coroutine run on the caller's thread behaves as
``run_until_complete`` on opentrons' hardware thread would, for the caller too.

Plain asyncio (the function needs no opentrons); the worker's use of it with the real
hardware simulator is tested through the simulator in ``test_sim_analysis.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from ot2_notebook.simulator.workers.inline_hardware import run_here

T = TypeVar("T")


def _on_a_fresh_thread(body: Callable[[], T]) -> T:
    """Run ``body`` on a new thread, which has no running event loop, as a worker's protocol
    thread has none. The test process's main thread may have one: the browser tests' session
    fixture keeps Playwright's sync API (an event loop on the main thread) alive for the whole
    run, which made these tests depend on what ran before them."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="protocol") as one:
        return one.submit(body).result(timeout=60)


async def _returns(value: int) -> int:
    return value


async def _waits_then_returns(value: int) -> int:
    await asyncio.sleep(0.01)  # a timer: needs its loop running
    return value


async def _waits_then_raises() -> None:
    await asyncio.sleep(0)
    raise ValueError("the hardware said no")


def test_it_returns_what_the_coroutine_returns_whether_or_not_it_waits() -> None:
    def body() -> None:
        hardware = asyncio.new_event_loop()
        try:
            assert run_here(hardware, _returns(3)) == 3
            assert run_here(hardware, _waits_then_returns(5)) == 5
            with pytest.raises(ValueError, match="the hardware said no"):
                run_here(hardware, _waits_then_raises())
            assert asyncio._get_running_loop() is None  # nothing left behind
        finally:
            hardware.close()

    _on_a_fresh_thread(body)


def test_a_loop_running_when_it_is_called_is_running_after_it() -> None:
    """Whatever loop the calling thread was running (here one the test sets, as Playwright's
    sync API or a protocol's ``asyncio.run`` would) is the running loop again afterwards,
    after a call that never waits, one that waits and one that raises."""

    def body() -> None:
        hardware, theirs = asyncio.new_event_loop(), asyncio.new_event_loop()
        asyncio._set_running_loop(theirs)
        try:
            assert run_here(hardware, _returns(3)) == 3
            assert asyncio._get_running_loop() is theirs
            assert run_here(hardware, _waits_then_returns(5)) == 5
            assert asyncio._get_running_loop() is theirs
            with pytest.raises(ValueError, match="the hardware said no"):
                run_here(hardware, _waits_then_raises())
            assert asyncio._get_running_loop() is theirs
        finally:
            asyncio._set_running_loop(None)
            hardware.close()
            theirs.close()

    _on_a_fresh_thread(body)


def test_a_caller_running_its_own_loop_keeps_it() -> None:
    """A protocol that calls the hardware from inside ``asyncio.run``: its loop is still the
    running loop after each call, and a call that waits runs the hardware's loop on another
    thread (the caller's thread cannot run a second loop) while the caller waits."""
    hardware = asyncio.new_event_loop()
    where: list[str] = []

    async def records_its_thread() -> int:
        where.append(threading.current_thread().name)
        await asyncio.sleep(0.01)
        return 7

    async def protocol() -> str:
        mine = asyncio.get_running_loop()
        assert run_here(hardware, _returns(1)) == 1
        assert asyncio.get_running_loop() is mine
        assert run_here(hardware, records_its_thread()) == 7
        assert asyncio.get_running_loop() is mine
        await asyncio.sleep(0.01)  # its own timers still work
        return "done"

    def body() -> str:
        assert asyncio.run(protocol()) == "done"
        return threading.current_thread().name

    try:
        caller = _on_a_fresh_thread(body)
        assert where == [caller]  # it started on the caller's thread, then waited
    finally:
        hardware.close()


async def _yields_then_returns(value: int, turns: int) -> int:
    """What the smoothie simulator's ``ensure_yield`` does after every move."""
    for _ in range(turns):
        await asyncio.sleep(0)  # a bare yield: "let others run first"
    return value


class _CountingLoop(asyncio.SelectorEventLoop):
    """A loop that counts its own turns, to see whether a call went through it."""

    turns = 0

    def _run_once(self) -> None:
        self.turns += 1
        super()._run_once()  # type: ignore[misc]


def test_bare_yields_on_an_idle_loop_do_not_turn_it() -> None:
    """With nothing else on the hardware's loop, a coroutine that only yields bare is
    stepped to its end on the calling thread: the loop never turns (a turn would only
    resume it)."""

    def body() -> None:
        hardware = _CountingLoop()
        try:
            assert run_here(hardware, _yields_then_returns(4, turns=3)) == 4
            assert hardware.turns == 0
        finally:
            hardware.close()

    _on_a_fresh_thread(body)


def test_bare_yields_let_the_loop_run_whatever_else_it_has() -> None:
    """A task on the hardware's loop (a module poller, say) gets its turns while a call
    yields, in the order the loop gives them, as with opentrons' own hardware thread; so
    does a callback already scheduled on it."""

    def body() -> None:
        hardware = _CountingLoop()
        ran: list[str] = []

        async def poller() -> None:
            while True:
                ran.append("poller")
                await asyncio.sleep(0)

        async def call() -> str:
            ran.append("call starts")
            await asyncio.sleep(0)
            ran.append("call resumes")
            return "moved"

        try:
            task = hardware.create_task(poller())
            assert run_here(hardware, call()) == "moved"
            assert hardware.turns > 0
            assert ran.index("poller") < ran.index("call resumes"), ran
            task.cancel()
            hardware.run_until_complete(asyncio.gather(task, return_exceptions=True))
            ran.clear()
            hardware.call_soon(ran.append, "callback")
            assert run_here(hardware, call()) == "moved"
            assert ran == ["call starts", "callback", "call resumes"], ran
        finally:
            hardware.close()

    _on_a_fresh_thread(body)
