"""Benchmarks of sklearn_bdistil: ``python -m benchmarks.compare``, ``benchmarks.ablation``."""
