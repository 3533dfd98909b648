"""Centralita benchmark harness: `python -m bench` (or `make bench`). See docs/benchmarks.md.

bench.harness holds the runner (one fresh subprocess per database) and the measuring helpers;
bench.scenarios holds the registry of named scenarios, one module per issue.
"""
