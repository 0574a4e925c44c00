"""``ot2-sim analyse PATH ...``: analyse many protocols, for people and CI jobs.

Exit status: 0 when every protocol passed, 1 when any failed (or its analysis could not
run), 2 when the batch could not run at all (a path that does not exist, no protocols,
an unreachable Dask scheduler, bad options), 130 when interrupted (Ctrl-C, SIGINT).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ot2_notebook.simulator.batch.discovery import DiscoveryError
from ot2_notebook.simulator.batch.executors import ExecutorSetupError
from ot2_notebook.simulator.batch.progress import Bar, JsonLines, Lines, Progress, Silent


def _api_level(text: str) -> tuple[int, int]:
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise argparse.ArgumentTypeError(f"must look like '2.11', not {text!r}")
    return int(major), int(minor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ot2-sim analyse",
        description=(
            "Analyse protocols as the simulated robot's upload does, in parallel, each in a "
            "process of its own. Folders are searched for protocols (Python files with run() "
            "and an apiLevel, JSON protocols); a protocol's support files are the other, "
            "non-protocol files of its folder."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="protocol files or folders")
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, help="protocols analysed at once (default: CPUs)"
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument(
        "--junit", metavar="FILE", help="write JUnit XML to FILE (GitHub Actions, GitLab CI)"
    )
    parser.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="run on Dask: tcp://host:8786 (an existing cluster whose workers have "
        "ot2-notebook[sim]) or local[:N] (a LocalCluster of N worker processes)",
    )
    parser.add_argument(
        "--analysis-timeout",
        "--timeout",
        dest="timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds a protocol may take before it counts as hung (default 60)",
    )
    parser.add_argument(
        "--max-api-level",
        type=_api_level,
        metavar="X.Y",
        default=None,
        help="refuse protocols above this API level, as a real robot does (4.7: 2.11)",
    )
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=2048,
        help="memory bound of each protocol's process (default 2048)",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "bar", "lines", "json", "none"],
        default="auto",
        help="auto: a bar on a terminal, else a line per failing protocol; json: JSON lines "
        "on stdout (for programs)",
    )
    parser.add_argument(
        "--pool",
        choices=["threads", "processes"],
        default="threads",
        help="without --dask: threads (default) sharing one warm analysis host, or a pool of "
        "processes with a host each; either way each protocol runs in a process of its own",
    )
    return parser


def _progress(choice: str) -> Progress | None:
    return {
        "auto": None,
        "bar": Bar(),
        "lines": Lines(),
        "json": JsonLines(),
        "none": Silent(),
    }[choice]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    if args.timeout <= 0:
        parser.error("--analysis-timeout must be greater than 0")
    from ot2_notebook.simulator.batch.run import analyse

    report = sys.stderr if args.progress == "json" else sys.stdout
    try:
        result = analyse(
            args.paths,
            jobs=args.jobs,
            dask=args.dask,
            timeout=args.timeout,
            max_api_level=args.max_api_level,
            memory_limit_mb=args.memory_limit_mb,
            progress=_progress(args.progress),
            pool=args.pool,
        )
    except (DiscoveryError, ExecutorSetupError) as exc:
        print(f"ot2-sim analyse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ot2-sim analyse: interrupted; no report written", file=sys.stderr)
        return 130
    if args.json:
        result.write_json(args.json)
    if args.junit:
        result.write_junit(args.junit)
    print(result.summary(), file=report)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
