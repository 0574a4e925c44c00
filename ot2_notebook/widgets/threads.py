"""Getting a background thread's news onto the widgets, and not leaking threads doing so.

How updates reach the browser. A widget's trait change is sent at once as a comm message
on the kernel's IOPub channel, which ipykernel (>= 4.3, and 7.x with its IOPub thread)
accepts from any thread. That is what ipywidgets' "Asynchronous Widgets" guide does, and it
is the only way a panel keeps moving while the main thread is busy (a cell blocked in
``session.wait_for("finished")``): marshalling onto the kernel's event loop would hold every
update until that cell ends. Two rules keep it sound:

* all widget changes of a panel happen under the panel's lock, so the watcher's thread, the
  renderer and button clicks (handled on the main thread) never interleave half-updates;
* nothing is *printed* or ``display``-ed from a thread (and ``Output`` widgets' context
  managers are never used): output from threads is what ipykernel 7.0.x routed to the wrong
  cell (ipython/ipykernel#1451, jupyter-widgets/ipywidgets#4020). Comm messages carry their
  widget's id and are unaffected.

:class:`Renderer` coalesces updates: a fast run reports hundreds of steps a second, and
redrawing the log for each would flood the browser. It redraws at most every
``min_interval`` seconds, always once after the last change, and on a clock tick while a
run is under way (so elapsed time moves during a long step).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Renderer"]

log = logging.getLogger(__name__)


class Renderer:
    """Calls ``render()`` on its own daemon thread when asked, at most every
    ``min_interval`` s, and every ``tick`` s while :attr:`ticking` is set.

    :meth:`request` marks the view stale; :meth:`flush` waits until a render that started
    after the latest request has finished. :meth:`close` stops and joins the thread;
    :meth:`finish` renders once more and then lets the thread end (for a run that is over).
    """

    def __init__(
        self,
        render: Callable[[], None],
        *,
        min_interval: float = 0.1,
        tick: float = 1.0,
        name: str = "ot2-render",
    ) -> None:
        self._render = render
        self.min_interval = min_interval
        self.tick = tick
        self._cond = threading.Condition()
        self._requested = 0
        self._rendered = 0
        self._ticking = False
        self._stopping = False  # finish(): one last render, then end
        self._stopped = False
        self._last = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def ticking(self) -> bool:
        return self._ticking

    @ticking.setter
    def ticking(self, value: bool) -> None:
        with self._cond:
            self._ticking = value
            self._cond.notify_all()

    def request(self) -> None:
        """Mark the view stale: it will be redrawn soon."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything requested so far is drawn; returns whether it was."""
        with self._cond:
            target = self._requested
            return self._cond.wait_for(
                lambda: self._rendered >= target or not self._thread.is_alive(), timeout
            ) and (self._rendered >= target)

    def finish(self) -> None:
        """Draw what is pending, then end the thread (no more ticks)."""
        with self._cond:
            self._requested += 1
            self._ticking = False
            self._stopping = True
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> bool:
        """Stop without drawing again; join the thread. Returns whether it ended."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _due(self) -> float | None:
        """Seconds until the next render is due (0: now), ``None``: nothing to do."""
        now = time.monotonic()
        if self._requested > self._rendered:
            return max(0.0, self._last + self.min_interval - now)
        if self._ticking:
            return max(0.0, self._last + self.tick - now)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    due = self._due()
                    if due == 0.0:
                        break
                    if due is None and self._stopping:
                        self._stopped = True
                        break
                    self._cond.wait(due)
                if self._stopped:
                    self._cond.notify_all()
                    return
                target = self._requested
                self._last = time.monotonic()
            try:
                self._render()
            except Exception:  # a drawing bug must not kill live updates for good
                log.exception("ot2 panel: redrawing failed")
            with self._cond:
                self._rendered = max(self._rendered, target)
                self._cond.notify_all()
