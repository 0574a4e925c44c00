"""The OT-2 hardware simulator driven from the worker's own thread instead of a thread of its own.

Why: ``opentrons.simulate`` builds the hardware simulator inside a ``ThreadManager``: a thread
running an event loop, and every hardware call the protocol makes (a move, an aspirate, a
tip pick-up: about five per command) is a ``run_coroutine_threadsafe`` round trip to it. On
the 2-core machine this project is built on, such a round trip costs about 130 µs against
about 1 µs for the same coroutine stepped on the calling thread (the ``hardware`` benchmark,
``benchmarks/README.md``); a 500-command plate fill makes about 2,500 of them, a quarter of
its simulation.

A worker runs one protocol and nothing else, so nothing needs the hardware's loop while the
protocol waits for it. Here the worker runs each hardware coroutine on the protocol's thread
(``run_here``): the same hardware simulator object built by the same builder
(``API.build_hardware_simulator`` with the feature flags ``simulate`` uses), the same
coroutines in the same order, so the same results, without the thread hop. Background tasks
of the hardware (module pollers) run whenever a call waits, which is when anything needs
them.

Only for the legacy protocol core (API levels below 2.14, what robot software 4.x runs):
from 2.14 on, ``opentrons`` runs a protocol engine in a thread of its own that reaches the
hardware from its loop, which needs the hardware loop running elsewhere; those levels keep
opentrons' own ``ThreadManager``.

Relies on opentrons internals (``SynchronousAdapter.call_coroutine_sync``, the fields of
``ThreadManager``); ``internals.py`` probes them when the simulator starts. Only ever imported
in a worker process (its functions import opentrons).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

#: Loops whose hardware runs inline: a ``SynchronousAdapter`` call on one of them runs the
#: coroutine here, on the calling thread. Every other loop keeps opentrons' behaviour.
_INLINE_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_installed = False


class NestedHardwareCallError(RuntimeError):
    """A hardware coroutine called the hardware synchronously: opentrons never does, since
    its own ``ThreadManager`` would deadlock on it; here it would re-enter a running loop."""


def legacy_core(api_level: Any) -> bool:
    """Whether a protocol at ``api_level`` runs on the legacy core (where inline applies)."""
    from opentrons.protocol_api.core.engine import ENGINE_CORE_API_VERSION

    return bool(api_level < ENGINE_CORE_API_VERSION)


def install() -> None:
    """Make ``SynchronousAdapter`` run coroutines of inline loops on the calling thread.

    Idempotent. Every adapter, including the ones opentrons makes for modules
    (``legacy_module_core``), reads ``call_coroutine_sync`` from the class, so one patch
    covers them all; adapters over any other loop call the original.
    """
    global _installed
    if _installed:
        return
    from opentrons.hardware_control import adapters

    original = adapters.SynchronousAdapter.call_coroutine_sync

    def call_coroutine_sync(
        loop: asyncio.AbstractEventLoop,
        to_call: Callable[..., Awaitable[Any]],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if loop in _INLINE_LOOPS:
            if loop.is_running():
                raise NestedHardwareCallError(
                    f"{getattr(to_call, '__qualname__', to_call)} was called synchronously "
                    "from inside a hardware coroutine"
                )
            return run_here(loop, to_call(*args, **kwargs))
        return original(loop, to_call, *args, **kwargs)

    adapters.SynchronousAdapter.call_coroutine_sync = staticmethod(call_coroutine_sync)
    _installed = True


def run_here(loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
    """Run ``coroutine`` to its end on this thread, as ``loop.run_until_complete`` would.

    Most hardware-simulator coroutines never wait for anything: they compute and return.
    Those are stepped directly, with ``loop`` set as the running loop for them (so
    ``get_running_loop``, locks and ``create_task`` work as on the loop), which saves the
    loop's own turns (a ``select`` call each, three per call). The first time one does wait
    (a sleep, a future, a task it started), the rest of it runs on the loop, which then
    also runs whatever tasks are ready. A bare yield (``asyncio.sleep(0)``: the smoothie
    simulator's ``ensure_yield`` after every move, about 40 per small protocol) only asks
    the loop to run others first; while the loop has no one else (``_loop_is_idle``) the
    coroutine is stepped on here, since a turn of the loop would only resume it.
    """
    theirs = asyncio._get_running_loop()  # a protocol may run an event loop of its own
    asyncio._set_running_loop(loop)
    try:
        waiting_for = coroutine.send(None)
        while waiting_for is None and _loop_is_idle(loop):
            waiting_for = coroutine.send(None)
    except StopIteration as done:
        return done.value
    finally:
        asyncio._set_running_loop(theirs)
    rest = _resume(coroutine, waiting_for)
    if theirs is None:
        return loop.run_until_complete(rest)
    # a protocol that calls the hardware from inside its own running loop: ours cannot run
    # on this thread then, so it runs on a thread of its own while this one waits, as it
    # would with opentrons' hardware thread
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hardware-call") as one:
        return one.submit(loop.run_until_complete, rest).result()


def _loop_is_idle(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a turn of ``loop`` would run nothing: no callback ready or timed, no task.

    Reads the ready and timed queues of asyncio's ``BaseEventLoop`` (``_ready``,
    ``_scheduled``); a loop without them counts as busy, so its coroutines take its turns.
    """
    ready = getattr(loop, "_ready", None)
    scheduled = getattr(loop, "_scheduled", None)
    if ready is None or scheduled is None:
        return False
    return not ready and not scheduled and not asyncio.all_tasks(loop)


async def _resume(coroutine: Any, waiting_for: Any) -> Any:
    """Drive the rest of a coroutine that has started waiting, as a Task would: wait for
    what it yielded (without raising: the coroutine reads the outcome), then resume it."""
    while True:
        if waiting_for is None:  # a bare yield: asyncio.sleep(0)
            await asyncio.sleep(0)
        else:
            await asyncio.wait([waiting_for])
        try:
            waiting_for = coroutine.send(None)
        except StopIteration as done:
            return done.value


class _NoThread:
    """Stands in for the managed thread there is not (``ThreadManager.clean_up_tm`` joins it)."""

    def join(self, timeout: float | None = None) -> None:
        pass

    def is_alive(self) -> bool:
        return False


def build() -> Any:
    """A fresh OT-2 hardware simulator in a ``ThreadManager`` whose calls run inline.

    It is a real ``ThreadManager`` (``isinstance`` holds, so ``create_protocol_context``
    takes its ``.sync`` adapter and modules are wrapped as usual), made without starting its
    thread: the builder runs here on a new loop, and the loop only ever runs inside a call.
    Pass it to ``simulate.get_protocol_api(hardware_simulator=...)``.
    """
    from opentrons.hardware_control import API, ThreadManager
    from opentrons.hardware_control.adapters import SynchronousAdapter
    from opentrons.hardware_control.thread_manager import CallBridger
    from opentrons.hardware_control.types import HardwareFeatureFlags

    install()
    loop = asyncio.new_event_loop()
    hardware = loop.run_until_complete(
        API.build_hardware_simulator(loop=loop, feature_flags=HardwareFeatureFlags.build_from_ff())
    )
    _INLINE_LOOPS.add(loop)
    ready = threading.Event()
    ready.set()
    manager = ThreadManager.__new__(ThreadManager)
    fields: dict[str, Any] = {
        "_loop": loop,
        "managed_obj": hardware,
        "bridged_obj": CallBridger(hardware, loop),
        "_sync_managed_obj": SynchronousAdapter(hardware),
        "_is_running": ready,
        "_cached_modules": weakref.WeakKeyDictionary(),
        "_thread": _NoThread(),
    }
    for name, value in fields.items():
        object.__setattr__(manager, name, value)
    return manager


def close(manager: Any) -> None:
    """Finish what the hardware left on its loop, then close the loop.

    What synchronous hardware methods schedule (``API.pause``/``resume`` hand coroutines to
    the loop) runs now, as it would have on opentrons' running loop; the hardware's own
    ``clean_up`` runs; then the tasks still pending (module pollers, which poll forever) are
    cancelled, so the worker ends without "Task was destroyed but it is pending!" noise.
    """
    loop: asyncio.AbstractEventLoop = object.__getattribute__(manager, "_loop")
    if loop not in _INLINE_LOOPS or loop.is_closed():
        return
    hardware = object.__getattribute__(manager, "managed_obj")
    try:
        loop.run_until_complete(_settle())
        loop.run_until_complete(hardware.clean_up())
        loop.run_until_complete(_cancel_the_rest())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        _INLINE_LOOPS.discard(loop)
        loop.close()


async def _settle() -> None:
    """A few turns of the loop: what was handed to it from outside (a task made by
    ``run_coroutine_threadsafe``) starts, and its steps that need no waiting finish."""
    for _ in range(3):
        await asyncio.sleep(0)


async def _cancel_the_rest() -> None:
    """Cancel every other task on this loop and wait until they have all ended."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
