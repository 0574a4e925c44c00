"""Benchmarks of ot2_notebook and its simulated robot, measured side by side in one run.

Run ``python -m benchmarks`` (``make bench``); ``--help`` lists the options. See
``benchmarks/README.md`` for what each figure means and the goals.
"""
