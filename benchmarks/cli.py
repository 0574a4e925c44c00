"""The command line of ``python -m benchmarks``: choose benchmarks, run them, report."""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import (
    analysis,
    batch,
    cold_start,
    deck,
    gap,
    hardware,
    harness,
    imports,
    latency,
    memory,
    reupload,
    throughput,
)

#: In running order: the cheap and the fragile first, the long memory soak last.
BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        imports,
        analysis,
        reupload,
        gap,
        hardware,
        cold_start,
        latency,
        throughput,
        batch,
        deck,
        memory,
    )
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmarks of ot2_notebook's simulated robot against opentrons itself, "
            "measured side by side in one run. Prints a table and writes JSON."
        ),
    )
    names = ", ".join(BENCHMARKS)
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=list(BENCHMARKS),
        help=f"run only these benchmarks ({names})",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        metavar="NAME",
        choices=list(BENCHMARKS),
        default=[],
        help="skip these benchmarks",
    )
    parser.add_argument(
        "--repeat",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply every benchmark's repetitions (default 1; e.g. 3 for steadier figures)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (about a minute): few repetitions, no 3,500-command protocol, "
        "50 memory cycles; figures are rough",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=harness.RESULTS_DIR / "latest.json",
        metavar="PATH",
        help="where to write the results (default benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a goal is not met"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:12} {module.TITLE}")
        return 0
    if args.repeat <= 0:
        build_parser().error("--repeat must be greater than 0")
    selected = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    options = harness.Options(repeat=args.repeat, quick=args.quick, json_path=args.json)
    meta = harness.environment()
    meta["benchmarks"] = selected
    meta["quick"] = args.quick
    meta["repeat"] = args.repeat
    failed: list[str] = []
    started = time.perf_counter()
    with harness.Bench(options) as bench:
        for name in selected:
            module = BENCHMARKS[name]
            with harness.section(module.TITLE):
                try:
                    module.run(bench)
                except Exception as exc:  # one broken benchmark must not hide the others
                    traceback.print_exc()
                    failed.append(name)
                    bench.note(f"{name} failed: {type(exc).__name__}: {exc}")
        meta["duration_s"] = round(time.perf_counter() - started, 1)
        meta["failed"] = failed
        print("\n" + harness.table(bench.results))
        harness.write_json(options.json_path, bench.results, bench.notes, meta)
        unmet = [r for r in bench.results if r.met is False]
    print(
        f"\n{len(bench.results)} figures in {meta['duration_s']} s; "
        f"goals not met: {len(unmet)}; written to {options.json_path}"
    )
    if failed:
        print(f"benchmarks that could not measure: {', '.join(failed)}")
        return 1
    return 1 if args.strict and unmet else 0
