"""Benchmarks: they print figures (and `make bench` writes docs/benchmarks.md); tests check behaviour."""
