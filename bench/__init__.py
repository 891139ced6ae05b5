"""Benchmarks (``make bench``): throughput and latency on the real broker and database.

Never timing assertions in tests: figures are measured here and reported with the machine
they ran on, as ratios where a baseline exists.
"""
