"""The panels' Renderer: coalesced redraws, clock ticks, and threads that end when told.

Synchronised with events and the renderer's own flush, never with sleeps.
"""

from __future__ import annotations

import logging
import threading

import pytest

from ot2_notebook.widgets.threads import Renderer
from tests.conftest import wait_until


class Drawing:
    """A render function that counts its calls and can be held mid-render."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[str] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.inside = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        self.inside.set()
        assert self.hold.wait(10)


def test_requests_during_a_redraw_are_coalesced_into_one() -> None:
    drawing = Drawing()
    renderer = Renderer(drawing, min_interval=0.0, name="test-render")
    try:
        drawing.hold.clear()
        renderer.request()
        assert drawing.inside.wait(10)  # the first redraw is under way, and held
        for _ in range(100):
            renderer.request()
        drawing.hold.set()
        assert renderer.flush(10)
        assert drawing.calls == 2  # the held one, then one for all 100 requests
        assert drawing.threads == {"test-render"}
    finally:
        assert renderer.close()


def test_ticks_redraw_while_ticking_only() -> None:
    drawing = Drawing()
    renderer = Renderer(drawing, tick=0.01)
    try:
        renderer.ticking = True
        wait_until(lambda: drawing.calls >= 3, message="no clock ticks")
        renderer.ticking = False
        renderer.request()
        assert renderer.flush(10)
        calls = drawing.calls
        renderer.request()
        assert renderer.flush(10)
        assert drawing.calls == calls + 1
    finally:
        assert renderer.close()


def test_finish_draws_what_is_pending_and_ends_the_thread() -> None:
    drawing = Drawing()
    renderer = Renderer(drawing, min_interval=0.0)
    renderer.ticking = True
    renderer.finish()
    renderer.thread.join(10)
    assert not renderer.alive
    assert drawing.calls >= 1


def test_close_ends_the_thread_without_drawing() -> None:
    drawing = Drawing()
    renderer = Renderer(drawing)
    assert renderer.close(5)
    assert not renderer.alive and drawing.calls == 0
    renderer.request()  # harmless once closed
    assert renderer.flush(0.1) is False


def test_a_failing_redraw_is_logged_and_the_next_one_still_happens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def render() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("drawing bug")

    renderer = Renderer(render, min_interval=0.0)
    try:
        with caplog.at_level(logging.ERROR, logger="ot2_notebook.widgets.threads"):
            renderer.request()
            assert renderer.flush(10)
            renderer.request()
            assert renderer.flush(10)
        assert len(calls) == 2
        assert any("redrawing failed" in r.getMessage() for r in caplog.records)
    finally:
        assert renderer.close()
