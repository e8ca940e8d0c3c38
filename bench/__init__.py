"""Benchmarks: `python -m bench [--smoke|--quick]` (docs/BENCHMARKS.md)."""
