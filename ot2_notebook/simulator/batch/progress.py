"""How a batch shows its progress: a bar, a line per problem, JSON lines, or a callback.

``analyse(progress=...)`` takes ``None`` (automatic: a tqdm bar in a terminal or a
notebook, otherwise a line per protocol that did not pass), ``True`` (a bar), ``False``
(nothing), a callable ``f(result, done, total)``, or a ``Progress``. ``ot2-sim analyse
--progress json`` writes one JSON object per line to stdout (``{"event": "start",
"total"}``, then ``{"event": "protocol", "done", "total", "protocol", "outcome", "ok",
"seconds", "error"}`` per finished protocol): the kernel side reads that to drive its own
progress bar without sharing a process with opentrons.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ot2_notebook.simulator.batch.results import ProtocolResult


class Progress:
    """Told when the batch starts, after every protocol, and when it ends."""

    def start(self, total: int) -> None:
        self.total = total
        self.done = 0

    def advance(self, result: ProtocolResult) -> None:
        self.done += 1

    def close(self) -> None:
        pass


class Silent(Progress):
    pass


class Lines(Progress):
    """A line per protocol that did not pass (CI logs: no bar redrawn a thousand times)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def advance(self, result: ProtocolResult) -> None:
        super().advance(result)
        if not result.ok:
            error = result.error or {}
            print(
                f"[{self.done}/{self.total}] {result.outcome.upper()} {result.protocol}: "
                f"{error.get('type')}: {error.get('message')}",
                file=self.stream,
                flush=True,
            )


class Bar(Progress):
    """A tqdm bar: ``tqdm.auto``, so a notebook gets a widget and a terminal a text bar."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.failed = 0
        self._bar: Any = None

    def start(self, total: int) -> None:
        super().start(total)
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, unit="protocol", file=self.stream, dynamic_ncols=True)

    def advance(self, result: ProtocolResult) -> None:
        super().advance(result)
        if not result.ok:
            self.failed += 1
            error = result.error or {}
            self._bar.write(
                f"{result.outcome.upper()} {result.protocol}: "
                f"{error.get('type')}: {error.get('message')}",
                file=self.stream,
            )
        self._bar.set_postfix(failed=self.failed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class JsonLines(Progress):
    """One JSON object per line (see the module docstring), flushed as it is written."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def _emit(self, event: dict[str, Any]) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def start(self, total: int) -> None:
        super().start(total)
        self._emit({"event": "start", "total": total})

    def advance(self, result: ProtocolResult) -> None:
        super().advance(result)
        self._emit(
            {
                "event": "protocol",
                "done": self.done,
                "total": self.total,
                "protocol": result.protocol,
                "outcome": result.outcome,
                "ok": result.ok,
                "seconds": result.analysis_seconds,
                "error": result.error,
            }
        )


class Callback(Progress):
    def __init__(self, function: Callable[[ProtocolResult, int, int], Any]) -> None:
        self.function = function

    def advance(self, result: ProtocolResult) -> None:
        super().advance(result)
        self.function(result, self.done, self.total)


ProgressOption = Union[None, bool, Progress, Callable[["ProtocolResult", int, int], Any]]  # noqa: UP007 (a runtime alias on 3.10)


def _tqdm_available() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return bool(get_ipython and type(get_ipython()).__name__ == "ZMQInteractiveShell")


def make_progress(option: ProgressOption) -> Progress:
    if isinstance(option, Progress):
        return option
    if option is False:
        return Silent()
    if option is True:
        return Bar() if _tqdm_available() else Lines()
    if option is None:
        interactive = sys.stderr.isatty() or _in_notebook()
        return Bar() if interactive and _tqdm_available() else Lines()
    if callable(option):
        return Callback(option)
    raise TypeError(f"progress must be None, True, False, a callable or a Progress, not {option!r}")
