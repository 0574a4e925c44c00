"""The last module the worker forkservers import: everything they loaded is frozen out of the
cycle collector's sight (``gc.freeze()``) before the first fork.

Why: a forked worker shares the forkserver's memory pages until it writes to one, and a
collection writes to every object it examines (the collector's bookkeeping in each object's
header). A full collection in a fresh worker therefore copies the forkserver's whole heap,
page by page. Whether one comes during a spare's warm-up depends on the collector's counters at
the moment of the fork; once the simulator's environment had its bytecode compiled (so the
imports no longer compiled source and left other counts behind), one came in every spare:
its warm-up took 120 ms of CPU and 11,600 page faults instead of 18.5 ms and 3,074 with this
freeze (2026-12-04, ``benchmarks/README.md``), and back to back that CPU competed with the
next request. Frozen objects are never collected, which is what they are for: modules and
the definitions loaded with them live as long as the worker. A worker freezes again once
its warm-up is done (``process.freeze_what_is_loaded``); what a job makes is collected.
Python's documentation of ``gc.freeze`` describes this use (freeze right before ``fork()``;
it also suggests disabling the collector while the parent loads, not done here).
"""

from __future__ import annotations

import gc

gc.freeze()
