"""``python -m ot2_notebook.simulator``: the same as ``ot2-sim``."""

import sys

from ot2_notebook.simulator.cli import main

sys.exit(main())
