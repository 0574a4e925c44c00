"""``import ot2_notebook`` against ``import opentrons.simulate``, each in a fresh interpreter.

Each run is a new ``python`` process that times the import statement itself (interpreter
start-up excluded) and reports whether ``opentrons`` got imported along the way (it must not,
for ``ot2_notebook``: notebooks that only talk to a robot should not pay for it). The runs
of the candidates alternate; the figure is the median.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from benchmarks.harness import Bench, BenchmarkError

NAME = "imports"
TITLE = "Import time in a fresh interpreter: ot2_notebook vs opentrons.simulate"

_PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "opentrons": "opentrons" in sys.modules}}))
"""

CANDIDATES = {
    "import ot2_notebook": "import ot2_notebook",
    "import ot2_notebook + RobotClient": "import ot2_notebook; ot2_notebook.RobotClient",
    "import opentrons.simulate": "import opentrons.simulate",
}


def measure(statement: str) -> tuple[float, bool]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"{statement!r} failed: {completed.stderr[-500:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(report["seconds"]), bool(report["opentrons"])


def run(bench: Bench) -> None:
    runs = bench.options.reps(5, 3, 3)
    seconds: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    pulled_opentrons: dict[str, bool] = {}
    for _ in range(runs):
        for name, statement in CANDIDATES.items():
            elapsed, imported = measure(statement)
            seconds[name].append(elapsed)
            pulled_opentrons[name] = pulled_opentrons.get(name, False) or imported
    medians = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    for name, value in medians.items():
        bench.record(
            NAME,
            f"{name} (median of {runs})",
            value,
            "ms",
            imports_opentrons=pulled_opentrons[name],
            samples_ms=[round(s * 1000, 2) for s in seconds[name]],
        )
    bench.record(
        NAME,
        "opentrons.simulate / ot2_notebook",
        medians["import opentrons.simulate"] / medians["import ot2_notebook"],
        "x",
    )
    if pulled_opentrons["import ot2_notebook"]:
        bench.note("import ot2_notebook imported opentrons: it must stay lazy (see preamble)")
