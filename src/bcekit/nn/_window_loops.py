"""Compiled loops over the square windows of NHWC batches: max pooling's forward pass and the
backward pass of nearest-neighbour upsampling (importing this module loads Numba).

NumPy's reductions over the window axes of ``(n, h, p, w, p, c)`` views run one inner loop of
``c`` elements per window position, which is slow for the few channels of a small U-Net; these
loops visit each window once with the channels innermost.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["max_pool_forward", "window_sums"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def max_pool_forward(x, p, out, first):
    r"""``out[n, a, b, c] = max_{i, j < p} x[n, p a + i, p b + j, c]`` and, in ``first``
    (shape ``(n, ho, p, wo, p, c)``, all False on entry), True at the first maximum of each
    window in row-major order. A window holding a NaN gives NaN and marks no maximum.
    """
    n, ho, wo, c = out.shape
    at = np.zeros(c, np.intp)  # i·p + j of each channel's maximum so far
    for a in range(n):
        for b in range(ho):
            for d in range(wo):
                for k in range(c):
                    out[a, b, d, k] = x[a, b * p, d * p, k]
                    at[k] = 0
                for i in range(p):
                    for j in range(p):
                        for k in range(c):
                            v = x[a, b * p + i, d * p + j, k]
                            best = out[a, b, d, k]
                            if v > best or (v != v and best == best):
                                out[a, b, d, k] = v
                                at[k] = i * p + j
                for k in range(c):
                    if out[a, b, d, k] == out[a, b, d, k]:
                        first[a, b, at[k] // p, d, at[k] % p, k] = True


@njit(**_JIT)
def window_sums(g, s, out):
    r"""``out[n, a, b, c] = \sum_{i, j < s} g[n, s a + i, s b + j, c]``, in row-major order."""
    n, h, w, c = out.shape
    for a in range(n):
        for b in range(h):
            for d in range(w):
                for k in range(c):
                    out[a, b, d, k] = 0
                for i in range(s):
                    for j in range(s):
                        for k in range(c):
                            out[a, b, d, k] += g[a, b * s + i, d * s + j, k]
