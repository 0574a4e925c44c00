"""The kernel side's progress of a batch: an ipywidgets bar in a notebook, text elsewhere.

Driven by the JSON events of ``ot2-sim analyse --progress json`` (``start``, then one
``protocol`` event per finished protocol).
"""

from __future__ import annotations

import sys
from typing import IO, Any


def in_notebook() -> bool:
    """A kernel with a front end that shows widgets (not a terminal IPython or a script)."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return bool(get_ipython and type(get_ipython()).__name__ == "ZMQInteractiveShell")


class TextProgress:
    """``[12/50] 1 failed`` on one line of ``stream`` (stderr), then the failures."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.failed = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "start":
            self.total = int(event.get("total") or 0)
            return
        if event.get("event") != "protocol":
            return
        if not event.get("ok"):
            self.failed += 1
            error = event.get("error") or {}
            self.stream.write(
                f"\r{str(event.get('outcome', 'failed')).upper()} {event.get('protocol')}: "
                f"{error.get('type')}: {error.get('message')}\n"
            )
        self.stream.write(f"\r[{event.get('done')}/{self.total}] {self.failed} failed")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class WidgetProgress:
    """An ``IntProgress`` bar with a label, red once a protocol fails."""

    def __init__(self) -> None:
        import ipywidgets
        from IPython.display import display

        self.bar = ipywidgets.IntProgress(value=0, min=0, max=1, description="analysing")
        self.label = ipywidgets.Label("finding protocols...")
        self.box = ipywidgets.HBox([self.bar, self.label])
        self.failed = 0
        display(self.box)

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "start":
            self.bar.max = max(1, int(event.get("total") or 0))
            self.label.value = f"0/{event.get('total')}"
            return
        if event.get("event") != "protocol":
            return
        if not event.get("ok"):
            self.failed += 1
            self.bar.bar_style = "danger"
        self.bar.value = int(event.get("done") or 0)
        failed = f", {self.failed} failed" if self.failed else ""
        self.label.value = (
            f"{event.get('done')}/{event.get('total')}{failed}: {event.get('protocol')}"
        )

    def close(self) -> None:
        if not self.failed and self.bar.value >= self.bar.max:
            self.bar.bar_style = "success"
        self.bar.description = "analysed"


class NoProgress:
    def __call__(self, event: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def progress_display(progress: bool) -> TextProgress | WidgetProgress | NoProgress:
    if not progress:
        return NoProgress()
    return WidgetProgress() if in_notebook() else TextProgress()
