"""Every data set bcekit can load or generate, in one flat namespace.

>>> from bcekit.datasets import make_shapes
>>> images, masks = make_shapes(4, random_state=0)
"""

from bcekit.data.bundled import load_breast_cancer
from bcekit.data.nuclei import NucleiTiles, load_nuclei
from bcekit.data.shapes import make_shapes
from bcekit.data.shuttle import load_shuttle

__all__ = ["NucleiTiles", "load_breast_cancer", "load_nuclei", "load_shuttle", "make_shapes"]
