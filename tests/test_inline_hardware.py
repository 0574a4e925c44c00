"""``inline_hardware.run_here``: a hardware coroutine run on the caller's thread behaves as
``run_until_complete`` on opentrons' hardware thread would, for the caller too.

Plain asyncio (the function needs no opentrons); the worker's use of it with the real
hardware simulator is tested through the simulator in ``test_sim_analysis.py``.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from ot2_notebook.simulator.workers.inline_hardware import run_here


async def _returns(value: int) -> int:
    return value


async def _waits_then_returns(value: int) -> int:
    await asyncio.sleep(0.01)  # a timer: needs its loop running
    return value


async def _waits_then_raises() -> None:
    await asyncio.sleep(0)
    raise ValueError("the hardware said no")


def test_it_returns_what_the_coroutine_returns_whether_or_not_it_waits() -> None:
    hardware = asyncio.new_event_loop()
    try:
        assert run_here(hardware, _returns(3)) == 3
        assert run_here(hardware, _waits_then_returns(5)) == 5
        with pytest.raises(ValueError, match="the hardware said no"):
            run_here(hardware, _waits_then_raises())
        assert asyncio._get_running_loop() is None  # nothing left behind
    finally:
        hardware.close()


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

    try:
        assert asyncio.run(protocol()) == "done"
        assert where == [threading.current_thread().name]  # it started here, then waited
    finally:
        hardware.close()
