"""The compiled steps behind :mod:`bcekit.nn._chain` (importing this module loads Numba).

The matrix products are BLAS calls (Numba's ``np.dot``), as in the layers; the element-wise
parts are loops doing the layers' IEEE operations in the same precision, with no fast-math
flags (no fused multiply-add, no re-association).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["dense_backward", "dense_forward"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def dense_forward(x, w, b, out, relu):
    r"""``out = x W + b``, then :math:`\max(out, 0)` in place when ``relu``.

    ``x`` (n, k), ``w`` (k, m), ``b`` (m,), ``out`` (n, m); NaN stays NaN through the ReLU.
    """
    np.dot(x, w, out)
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            v = out[i, j] + b[j]
            if relu and not (v > 0 or v != v):
                v = 0
            out[i, j] = v


@njit(**_JIT)
def dense_backward(x, g, w, gw, gb, ones, gx, relu, need_gx):
    r"""Add :math:`X^\top G` into ``gw`` and :math:`\mathbf 1^\top G` into ``gb``; then
    :math:`∂L/∂X = G W^\top` into ``gx`` when ``need_gx``.

    With ``relu`` the input ``x`` is the output of a ReLU, and ``gx`` is multiplied by the
    ReLU's derivative :math:`1[x > 0]`. An outer product (``m == 1``) is a loop, as the layer
    gives it (one rounded product per element).
    """
    gw += np.dot(x.T, g)
    gb += np.dot(ones, g)
    if not need_gx:
        return
    n, m = g.shape
    k = w.shape[0]
    if m == 1:
        for i in range(n):
            gi = g[i, 0]
            for j in range(k):
                gx[i, j] = gi * w[j, 0]
    else:
        np.dot(g, w.T, gx)
    if relu:
        for i in range(n):
            for j in range(k):
                gx[i, j] = gx[i, j] * (1.0 if x[i, j] > 0 else 0.0)
