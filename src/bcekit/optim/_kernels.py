r"""Compiled update loops for small parameters: the Adam step and an L2 penalty's gradient.

A NumPy Adam step is about a dozen in-place array operations; on the few thousand weights of
a small network each costs more in call overhead than in arithmetic, so one loop over the
elements is several times faster. The loop performs the same IEEE operations in the same
order and precision as :meth:`bcekit.optim.Adam._adam` (every scalar is rounded to the
parameter's dtype first; no fused multiply-add, no re-association), so both give the same
bits and either may run. :class:`bcekit.optim.Adam` imports this module only when Numba is
already loaded (the BCE kernels load it): starting Numba for the optimiser alone would cost
more than it saves on a short fit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["adam", "add_l2_gradient"]


@njit(cache=True, nogil=True, error_model="numpy")
def adam(value, g, m, v, constants):
    r"""One Adam step of the flat ``value`` from ``g``; the moments ``m``, ``v`` in place.

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1)\, g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2, \\
        \theta &\leftarrow \theta - s \cdot \frac{m}{\sqrt{v} / r + \epsilon},
        \qquad r = \sqrt{1 - \beta_2^t},\quad s = \frac{\eta}{1 - \beta_1^t}

    All arrays are 1-D, contiguous and of one dtype; ``constants`` holds
    :math:`(\beta_1, 1 - \beta_1, \beta_2, 1 - \beta_2, r, \epsilon, s)`, each rounded to
    that dtype as NumPy rounds a Python float operand.
    """
    beta1, one_minus_beta1, beta2, one_minus_beta2, root, eps, step = (
        constants[0],
        constants[1],
        constants[2],
        constants[3],
        constants[4],
        constants[5],
        constants[6],
    )
    for i in range(value.shape[0]):
        gi = g[i]
        mi = m[i] * beta1 + gi * one_minus_beta1
        vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
        m[i] = mi
        v[i] = vi
        value[i] -= (mi / (np.sqrt(vi) / root + eps)) * step


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def add_l2_gradient(grad, value, strength):
    r"""``grad += strength * value`` (flat, one dtype) and return :math:`\sum_i value_i^2`.

    The gradient :math:`\lambda W` and the sum of squares of an L2 penalty
    :math:`\tfrac{\lambda}{2}\lVert W\rVert^2` in one pass; the sum is accumulated in float64
    (re-associated into vector lanes: it only enters the reported value).
    """
    total = 0.0
    for i in range(value.shape[0]):
        vi = value[i]
        grad[i] += strength * vi
        total += np.float64(vi) * np.float64(vi)
    return total
