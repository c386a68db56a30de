"""Benchmarks and the reference recipes they run against; in a checkout, never in the wheel."""
