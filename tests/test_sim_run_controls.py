"""A pause sent the instant a run starts reaches its worker after the run's job, never before.

Run in the simulator's environment (``OT2_SIM_PYTHON``) with a real ``WorkerPool`` and the
real ``SessionRunner``, no HTTP: the test holds the session's job lock while it starts the
run and pauses it, so the pause is certainly queued before the run's thread has a worker;
then it lets the run go. A worker that got the pause first would fail the run ("a worker
takes a Job or a ProbeJob, not Pause()", seen once in CI under load before the runner sent
the job first); here the run must pause, resume on request, and finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

from tests.conftest import EXAMPLES

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, tempfile, threading
    from pathlib import Path

    os.environ["OT_API_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ot2-sim-test-config-")
    from ot2_notebook.simulator.analysis import Analyzer
    from ot2_notebook.simulator.runner import SessionJob, SessionRunner
    from ot2_notebook.simulator.workers.pool import WorkerPool

    class Reports:
        def __init__(self):
            self.seen = []
            self.changed = threading.Condition()

        def _note(self, what, *details):
            with self.changed:
                self.seen.append([what, *details])
                self.changed.notify_all()

        def wait_for(self, what, timeout=60):
            with self.changed:
                if not self.changed.wait_for(
                    lambda: any(s[0] in (what, "failed") for s in self.seen), timeout
                ):
                    raise SystemExit(f"no {what!r} within {timeout} s: {self.seen}")

        def is_live(self, session_id): return True
        def simulated(self, session_id, analysis, *, is_load): pass
        def run_started(self, session_id, handle): return True
        def run_step(self, session_id, handle, step): pass
        def run_paused(self, session_id, handle): self._note("paused")
        def run_resumed(self, session_id, handle): self._note("resumed")
        def run_finished(self, session_id, handle, steps): self._note("finished", steps)
        def run_failed(self, session_id, handle, errors, steps=None): self._note("failed", errors)
        def run_ended(self, session_id, handle): self._note("ended")

    pool = WorkerPool(spares=1)
    pool.start()
    try:
        analyzer = Analyzer(pool, timeout=60, concurrency=1)
        runner = SessionRunner(analyzer, pool, speed=None, stall_timeout=60)
        job = SessionJob("run-controls", Path(sys.argv[1]), "moves.py")
        reports = Reports()
        with job.lock:  # the run's thread waits here, before it takes a worker
            handle = runner.run(job, reports)
            handle.pause()
        reports.wait_for("paused")
        handle.resume()
        reports.wait_for("finished")
        reports.wait_for("ended")
        print(json.dumps(reports.seen))
    finally:
        pool.shutdown()
    """
)


def test_a_pause_queued_before_the_worker_exists_pauses_the_run(tmp_path) -> None:
    (tmp_path / "moves.py").write_bytes((EXAMPLES / "moves.py").read_bytes())
    done = subprocess.run(
        [os.environ["OT2_SIM_PYTHON"], "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    kinds = [entry[0] for entry in seen]
    assert "failed" not in kinds, seen
    assert kinds == ["paused", "resumed", "finished", "ended"], seen
    assert seen[2][1] > 0, "the run finished without running a step"
