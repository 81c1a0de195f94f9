"""Reproducible benchmark scripts that print ratios (run with ``python -m benchmarks.<name>``)."""
