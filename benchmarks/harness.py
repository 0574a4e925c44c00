"""Shared machinery for the benchmarks: results, goals, statistics, simulators, HTTP, output.

Every benchmark module exposes ``NAME``, ``TITLE`` and ``run(bench: Bench) -> None``; it
records figures with ``bench.record(...)``. ``Bench`` owns what the benchmarks share in one
run (options, a scratch folder, one simulated robot for most measurements) so that the
figures are measured side by side, under the same load, by one command.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from ot2_notebook.simulator import SimulatorHandle, start

VERSION_HEADER = {"Opentrons-Version": "2"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A target for one figure: ``value <op> target`` must hold (``op`` is "<=" or ">=")."""

    op: str
    target: float
    unit: str = ""

    def met(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        return value <= self.target if self.op == "<=" else value >= self.target

    def __str__(self) -> str:
        return f"{self.op} {_number(self.target)}{' ' + self.unit if self.unit else ''}"


@dataclass
class Result:
    """One figure of one benchmark, with its goal (if it has one) and how it was measured."""

    benchmark: str
    figure: str
    value: float | None
    unit: str
    goal: Goal | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.value) if self.goal is not None else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.value, float):
            data["value"] = round(self.value, 4)
        data["goal"] = str(self.goal) if self.goal else None
        data["met"] = self.met
        return data


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# -- statistics --------------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) with linear interpolation, as numpy's default."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/min/max/mean of samples given in seconds, in milliseconds."""
    if not samples:
        return {"n": 0}
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 0.5), 2),
        "p95": round(percentile(ms, 0.95), 2),
        "min": round(min(ms), 2),
        "max": round(max(ms), 2),
        "mean": round(statistics.fmean(ms), 2),
    }


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``action()`` took, and what it returned."""
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


# -- HTTP against a simulated robot ------------------------------------------------------------


class BenchmarkError(RuntimeError):
    """A benchmark could not measure what it measures (the robot answered wrongly)."""


class Robot(requests.Session):
    """``requests`` against one simulated robot: relative paths and the version header."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.headers.update(VERSION_HEADER)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 120)
        return super().request(method, url, *args, **kwargs)

    def upload(self, protocol_id: str, source: bytes) -> dict[str, Any]:
        """Upload (which analyses) and return the protocol; any failure is an error."""
        reply = self.post("/protocols", files=[("protocolFile", (f"{protocol_id}.py", source))])
        if reply.status_code != 201:
            raise BenchmarkError(f"upload of {protocol_id}: {reply.status_code} {reply.text[:300]}")
        data = dict(reply.json()["data"])
        if data["errors"]:
            raise BenchmarkError(f"analysis of {protocol_id} failed: {data['errors']}")
        return data

    def delete_protocol(self, protocol_id: str) -> None:
        reply = self.delete(f"/protocols/{protocol_id}")
        if reply.status_code != 200:
            raise BenchmarkError(f"delete of {protocol_id}: {reply.status_code} {reply.text[:300]}")

    def analyse(self, protocol_id: str, source: bytes) -> dict[str, Any]:
        """One upload + analysis + delete, the unit every HTTP analysis figure times."""
        data = self.upload(protocol_id, source)
        self.delete_protocol(protocol_id)
        return data


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Options:
    repeat: float = 1.0  # multiplies every benchmark's default repetitions
    quick: bool = False
    json_path: Path = RESULTS_DIR / "latest.json"

    def reps(self, default: int, quick: int, minimum: int = 1) -> int:
        """Repetitions for one measurement, scaled by ``--repeat``."""
        base = quick if self.quick else default
        return max(minimum, round(base * self.repeat))


class Bench:
    """What one ``python -m benchmarks`` run shares between benchmarks."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.results: list[Result] = []
        self.notes: list[str] = []
        self._stack = contextlib.ExitStack()
        self.workdir = Path(
            self._stack.enter_context(tempfile.TemporaryDirectory(prefix="ot2-bench-"))
        )
        # opentrons (in this process and in opentrons_simulate) writes its settings here,
        # not into ~/.opentrons; the simulator keeps its own under its data folder
        os.environ["OT_API_CONFIG_DIR"] = str(self.workdir / "opentrons-config")
        self._sim: SimulatorHandle | None = None
        self._ids = 0

    # -- shared simulator ------------------------------------------------------------------
    @property
    def sim(self) -> SimulatorHandle:
        """The simulator most benchmarks share (started on first use, many protocols)."""
        if self._sim is None:
            self._sim = self.start_simulator()
        return self._sim

    def start_simulator(self, **options: Any) -> SimulatorHandle:
        """A simulated robot for this run, stopped when the run ends."""
        options.setdefault("max_protocols", 10_000)
        handle = start(port=0, **options)
        self._stack.callback(handle.stop)
        return handle

    def robot(self, handle: SimulatorHandle | None = None) -> Robot:
        robot = Robot((handle or self.sim).url)
        self._stack.callback(robot.close)
        return robot

    def unique_id(self, prefix: str) -> str:
        """A protocol id never used before in this run."""
        self._ids += 1
        return f"{prefix}_{os.getpid()}_{self._ids}"

    # -- recording -------------------------------------------------------------------------
    def record(
        self,
        benchmark: str,
        figure: str,
        value: float | None,
        unit: str,
        goal: Goal | None = None,
        **details: Any,
    ) -> Result:
        result = Result(benchmark, figure, value, unit, goal, details)
        self.results.append(result)
        mark = {True: "met", False: "NOT MET", None: ""}[result.met]
        shown = f"{_number(value)} {unit}".strip()
        print(f"  {figure}: {shown}{f'  (goal {goal}: {mark})' if goal else ''}", flush=True)
        return result

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- output ------------------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    """The results as a plain-text table: benchmark, figure, value, goal, met."""
    rows = [("benchmark", "figure", "value", "goal", "met")]
    for r in results:
        met = {True: "yes", False: "NO", None: ""}[r.met]
        rows.append(
            (r.benchmark, r.figure, f"{_number(r.value)} {r.unit}".strip(), str(r.goal or ""), met)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Where and when the figures were measured (they depend on the machine and its load)."""
    info: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks", *sys.argv[1:]]),
    }
    with contextlib.suppress(OSError):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        info["opentrons"] = version("opentrons")
        info["ot2_notebook"] = version("ot2-notebook")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        ).stdout.strip()
    return info


def write_json(
    path: Path,
    results: Sequence[Result],
    notes: Sequence[str],
    meta: dict[str, Any],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "results": [r.to_json() for r in results],
        "goals": {
            "met": sum(1 for r in results if r.met is True),
            "not_met": [f"{r.benchmark}: {r.figure}" for r in results if r.met is False],
        },
        "notes": list(notes),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    """Prints a heading and how long the benchmark took."""
    print(f"\n== {title}", flush=True)
    started = time.perf_counter()
    yield
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
