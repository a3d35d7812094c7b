"""Benchmarks of issue 6 (`python -m bench`); see README, "Benchmarks", and BENCHMARKS.md."""
