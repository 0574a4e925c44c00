"""The first module the worker forkservers import: numerical libraries get one thread each.

Why: every protocol runs in a process of its own, doing one thing at a time, and
``import opentrons`` loads numpy, whose OpenBLAS keeps a pool of one thread per core
(opentrons' deck transforms make matrix calls); with several workers at once those threads
compete for the cores the other workers need. Measured on this 2-core machine, 62 protocols
of the batch benchmark's library on 2 workers: 14.9-16.2 s with the default, 10.7-11.5 s
with one thread each (``benchmarks/README.md``). Dask's nanny sets the same variables for
its workers (``distributed.nanny.pre-spawn-environ``), and the hosts they start inherit
them: why a batch on a ``LocalCluster`` was faster than on our own pool before this.

OpenBLAS, OpenMP and MKL read these variables once, when they load, so this module must be
imported before numpy is: the pools list it first in their forkserver preload
(``PRELOAD_FIRST``). A value the user set for the simulator's environment is kept.
"""

from __future__ import annotations

import os

#: What each variable is set to unless the user set it.
THREAD_LIMITS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

for _name, _value in THREAD_LIMITS.items():
    os.environ.setdefault(_name, _value)
