r"""Numba kernels for the per-channel passes of batch normalisation and for max pooling.

NumPy reduces an NHWC batch over its pixels with short inner loops over the channels and
makes a temporary array per operation; these loops make one pass per statistic instead,
on the calling thread (a convolution's blocks already use every core, and a second thread
pool would compete with them).

All arrays are C-contiguous; ``x`` and ``g`` are viewed as ``(M, C)``. Sums are accumulated in
float64 for float32 data.

- :func:`moments`: ``μ_c = Σ_m x_mc / M`` and ``σ²_c = Σ_m (x_mc − μ_c)² / M`` (two passes, so
  that a large mean does not cancel the variance).
- :func:`normalise`: ``x̂ = (x − μ)·s`` and ``y = γ·x̂ + β`` in one pass.
- :func:`normalise_backward`: ``Σ g``, ``Σ g·x̂`` and, when ``grad`` is given,
  ``∂L/∂x = γ·s·(g − Σ g/M − x̂·Σ g·x̂/M)``.
- :func:`max_pool` / :func:`max_pool_backward`: the maximum of each ``p×p`` window with the
  position of its first maximum in row-major order, and the routing of the gradient to it.

They live in one file because Numba's on-disk cache (``cache=True``) is keyed by the
defining file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}


@njit(**_JIT)
def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per-column mean and (biased) variance of ``x`` ``(M, C)``, in float64."""
    m, c = x.shape
    mean = np.zeros(c)
    for i in range(m):
        for j in range(c):
            mean[j] += x[i, j]
    mean /= m
    var = np.zeros(c)
    for i in range(m):
        for j in range(c):
            d = x[i, j] - mean[j]
            var[j] += d * d
    var /= m
    return mean, var


@njit(**_JIT)
def normalise(
    x: np.ndarray,
    shift: np.ndarray,
    scale: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    x_hat: np.ndarray,
    y: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``x_hat = (x − shift)·scale`` and ``y = gamma·x_hat + beta``, row by row."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            v = (x[i, j] - shift[j]) * scale[j]
            x_hat[i, j] = v
            y[i, j] = gamma[j] * v + beta[j]


@njit(**_JIT)
def normalise_backward(
    g: np.ndarray, x_hat: np.ndarray, factor: np.ndarray, grad: np.ndarray, batch_stats: bool
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``(Σ g, Σ g·x̂)`` per column, and ``grad`` (``(M, C)``) filled with ∂L/∂x.

    ``factor`` is ``γ·s``. With ``batch_stats`` the statistics came from the batch:
    ``grad = factor·(g − Σ g/M − x̂·Σ g·x̂/M)``; else ``grad = factor·g``.
    """
    m, c = g.shape
    sum_g = np.zeros(c)
    sum_gx = np.zeros(c)
    for i in range(m):
        for j in range(c):
            sum_g[j] += g[i, j]
            sum_gx[j] += g[i, j] * x_hat[i, j]
    mean_g = (sum_g / m).astype(g.dtype)
    mean_gx = (sum_gx / m).astype(g.dtype)
    if not batch_stats:
        mean_g[:] = 0
        mean_gx[:] = 0
    for i in range(m):
        for j in range(c):
            grad[i, j] = factor[j] * (g[i, j] - mean_g[j] - x_hat[i, j] * mean_gx[j])
    return sum_g, sum_gx


@njit(**_JIT)
def max_pool(
    x: np.ndarray, p: int, out: np.ndarray, where: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``out[n, a, b, c]`` = max of ``x``'s window ``(a, b)``; ``where`` = its first
    position ``i·p + j`` in the window (row-major)."""
    n, ho, wo, c = out.shape
    for s in range(n):
        for a in range(ho):
            for b in range(wo):
                for ch in range(c):
                    out[s, a, b, ch] = x[s, p * a, p * b, ch]
                    where[s, a, b, ch] = 0
                for i in range(p):
                    for j in range(p):
                        if i == 0 and j == 0:
                            continue
                        for ch in range(c):
                            v = x[s, p * a + i, p * b + j, ch]
                            if v > out[s, a, b, ch]:
                                out[s, a, b, ch] = v
                                where[s, a, b, ch] = i * p + j


@njit(**_JIT)
def max_pool_backward(
    g: np.ndarray, where: np.ndarray, p: int, grad: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``grad`` (zeros at first) gets each ``g[n, a, b, c]`` at its window's maximum."""
    n, ho, wo, c = g.shape
    for s in range(n):
        for a in range(ho):
            for b in range(wo):
                for ch in range(c):
                    k = where[s, a, b, ch]
                    grad[s, p * a + k // p, p * b + k % p, ch] = g[s, a, b, ch]
