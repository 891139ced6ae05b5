"""Benchmarks (``make bench``): throughput and latency on the real broker and database.

Never timing assertions in tests: figures are measured here and reported with the machine
they ran on, as ratios where a baseline exists.

Benchmarks run on this machine, on loopback: development, said here explicitly for every
entry point (``python -m bench``, ``python -m bench.notify``) and every process they start
(production is the default, shared/environment.py); a ``CASEWORK_ENVIRONMENT`` already set
is kept.
"""

import os

os.environ.setdefault("CASEWORK_ENVIRONMENT", "development")
