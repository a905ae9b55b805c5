"""Benchmarks that print their figures; run each as ``python -m e2e.bench.<name>``."""
