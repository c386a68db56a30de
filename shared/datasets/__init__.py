"""Landmark datasets: layout, import, synthetic data, review decisions, recording quality in numbers."""
