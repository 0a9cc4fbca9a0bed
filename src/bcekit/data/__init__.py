"""Data sets and readers: bundled tables, synthetic and microscopy images, file formats.

Each submodule is imported on its own (``from bcekit.data.shapes import make_shapes``), so
that loading one data set never pulls in the optional dependencies of another. The flat,
user-facing list of loaders is :mod:`bcekit.datasets`.
"""
