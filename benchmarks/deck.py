"""What the deck view costs per step on a 3,500-step protocol (``python -m benchmarks.deck``).

The protocol is the analysis benchmarks' 3,502-command plate fill (``protocols.standard``),
uploaded to a simulated robot; the session's load simulation gives its 3,502 step events,
read over HTTP as a notebook would. Measured in this process, on those events:

* parsing the events into steps, and building the timeline (tips, volumes) from them: total
  and per step;
* a live run's cost per step: one start and one end event added to a timeline;
* the deck state after a step: random steps (a replay from the nearest checkpoint) and the
  next step (what playback asks for);
* one redraw: the state layer's SVG for a step (and its size, what goes to the browser per
  step), the base layer once;
* the widget: moving a ``DeckView``'s slider one step (state, SVG and the widgets' traits;
  no browser attached, so the comm send is not included).

Runs alone (``python -m benchmarks.deck [--repeat N]``) or as part of ``python -m
benchmarks`` (``NAME``, ``TITLE``, ``run(bench)``; ``--quick`` uses the 500-step protocol).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.protocols import standard

NAME = "deck"
TITLE = "Deck view: timeline and redraw per step, 3,500-step protocol"

#: Goals: a redraw well under the 100 ms in which a panel feels immediate, and a timeline
#: a notebook builds without a visible wait.
REDRAW_GOAL_MS = 20.0
BUILD_GOAL_S = 1.0

Record = Callable[..., Any]


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda f: ordered[min(len(ordered) - 1, int(f * (len(ordered) - 1) + 0.5))]  # noqa: E731
    return {
        "n": len(samples),
        "p50": round(pick(0.5) * 1000, 3),
        "p95": round(pick(0.95) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
    }


def measure(url: str, record: Record, *, repeat: int = 1, size: str = "3500") -> None:
    """Upload the 3,500-step protocol (``size="500"``: the 500-step one, for ``--quick``)
    to the robot at ``url`` and record the figures."""
    from ot2_notebook.client import RobotClient
    from ot2_notebook.deck import DeckLayout, DeckRenderer, Timeline
    from ot2_notebook.deck.steps import select_steps, steps_from_events
    from ot2_notebook.widgets.deck_view import DeckView

    generated = standard(size)
    with RobotClient(url) as robot, tempfile.TemporaryDirectory(prefix="ot2-deck-") as folder:
        path = Path(folder) / f"{generated.name}.py"
        path.write_text(generated.source, encoding="utf-8")
        protocol = robot.upload(path, replace=True)
        session = robot.create_session(protocol.id).wait_for("loaded", timeout=300)
        data = session.refresh().data
        details = data.raw["details"]
        events = details["events"]
        _, chosen = select_steps(events, "load")
        steps = len([e for e in chosen if str(e.get("event", "")).endswith(".start")])
        layout = DeckLayout.from_protocol(protocol)

        started = time.perf_counter()
        parsed = steps_from_events(chosen)
        parse_s = time.perf_counter() - started
        builds = []
        timeline = None
        for _ in range(max(1, repeat)):
            started = time.perf_counter()
            timeline = Timeline(layout, parsed, estimated_duration=protocol.data.estimated_duration)
            builds.append(time.perf_counter() - started)
        assert timeline is not None and len(timeline) == steps
        build_s = min(builds)
        record("steps", steps, "steps")
        record("parse events into steps", parse_s * 1e6 / steps, "µs/step", total_ms=parse_s * 1e3)
        record(
            "timeline build",
            build_s,
            "s",
            ("<=", BUILD_GOAL_S),
            per_step_us=round(build_s * 1e6 / steps, 1),
        )
        record("timeline build per step", build_s * 1e6 / steps, "µs/step")

        live = Timeline(layout)
        started = time.perf_counter()
        for event in chosen:  # as the feed brings them: text and structured data
            params = event.get("params") or {}
            live.add_event(
                str(event["event"]),
                params.get("text"),
                params.get("structured"),
                event.get("commandId"),
            )
        live_s = time.perf_counter() - started
        record("live run: step events added", live_s * 1e6 / steps, "µs/step")
        structured = sum(1 for s in timeline.steps if s.structured)
        record("steps with structured data", structured, "steps")

        rng = random.Random(3)
        jumps = []
        for n in rng.sample(range(steps + 1), min(200 * repeat, steps)):
            started = time.perf_counter()
            timeline.state(n)
            jumps.append(time.perf_counter() - started)
        record("state after a random step", _ms(jumps)["p50"], "ms", **_ms(jumps))
        nexts = []
        timeline.state(0)
        for n in range(1, steps + 1):
            started = time.perf_counter()
            timeline.state(n)
            nexts.append(time.perf_counter() - started)
        record("state after the next step (playback)", _ms(nexts)["p50"], "ms", **_ms(nexts))

        renderer = DeckRenderer(layout)
        started = time.perf_counter()
        base = renderer.base_svg()
        record(
            "base layer SVG (once)",
            (time.perf_counter() - started) * 1e3,
            "ms",
            kB=len(base) / 1024,
        )
        draws, sizes = [], []
        for n in rng.sample(range(steps + 1), min(200 * repeat, steps)):
            state = timeline.state(n)
            started = time.perf_counter()
            svg = renderer.state_svg(state)
            draws.append(time.perf_counter() - started)
            sizes.append(len(svg))
        record("state layer SVG per step", _ms(draws)["p50"], "ms", **_ms(draws))
        record(
            "state layer size",
            max(sizes) / 1024,
            "kB (largest)",
            mean_kB=sum(sizes) / len(sizes) / 1024,
        )

        view = DeckView(protocol, timeline=timeline)
        moves = []
        for n in range(0, steps + 1, max(1, steps // (300 * repeat))):
            started = time.perf_counter()
            view.slider.value = n
            moves.append(time.perf_counter() - started)
        record(
            "DeckView slider move (state + SVG + widgets)",
            _ms(moves)["p50"],
            "ms",
            ("<=", REDRAW_GOAL_MS),
            **_ms(moves),
        )
        view.close()
        session.delete()
        protocol.delete()


def run(bench: Any) -> None:
    """As part of ``python -m benchmarks``."""
    from benchmarks.harness import Goal

    def record(
        figure: str, value: float, unit: str, goal: tuple[str, float] | None = None, **details: Any
    ) -> None:
        bench.record(
            NAME, figure, value, unit, Goal(goal[0], goal[1], unit) if goal else None, **details
        )

    size = "500" if bench.options.quick else "3500"  # --quick: no 3,500-command protocol
    measure(bench.sim.url, record, repeat=max(1, round(bench.options.repeat)), size=size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deck", description=TITLE)
    parser.add_argument("--repeat", type=int, default=1, help="more samples (default 1)")
    options = parser.parse_args(argv)
    from ot2_notebook.simulator import start

    failed = []

    def record(
        figure: str, value: float, unit: str, goal: tuple[str, float] | None = None, **details: Any
    ) -> None:
        mark = ""
        if goal is not None:
            met = value <= goal[1] if goal[0] == "<=" else value >= goal[1]
            mark = f"  (goal {goal[0]} {goal[1]:g}: {'met' if met else 'NOT MET'})"
            if not met:
                failed.append(figure)
        extra = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in details.items()
        )
        print(
            f"  {figure}: {value:.4g} {unit}{mark}" + (f"  [{extra}]" if extra else ""), flush=True
        )

    print(TITLE)
    with start(port=0, max_protocols=10, analysis_timeout=300) as sim:
        measure(sim.url, record, repeat=options.repeat)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
