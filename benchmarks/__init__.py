"""Benchmarks of bcekit against NumPy, scikit-learn and PyTorch: ``python -m benchmarks``."""
