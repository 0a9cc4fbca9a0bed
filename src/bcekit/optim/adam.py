r"""Adam and AdamW: per-coordinate steps from running moments of the gradient.

The step is one compiled loop giving the same bits as the NumPy update
(:mod:`bcekit.optim._kernels`) once Numba is loaded, else a dozen in-place NumPy operations.
In the formulas, :math:`\theta` is a parameter, :math:`g` its gradient, :math:`\eta` the
learning rate, :math:`\lambda` the weight decay and :math:`t` the step count (1 on the first
step).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np

from bcekit.optim.base import Optimizer, ParamLike, check_real

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, with L2 decay added to the gradient (use :class:`AdamW` for decoupled decay).

    .. math::

        g_t &= \nabla_\theta L + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 - \beta_1^t} \cdot
            \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    with :math:`m_0 = v_0 = 0`; buffers ``"exp_avg"`` (:math:`m`) and ``"exp_avg_sq"``
    (:math:`v`).

    Parameters
    ----------
    params : iterable of parameters
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        :math:`\beta_1, \beta_2 \in [0, 1)`.
    eps : float, default 1e-8
        :math:`\epsilon > 0`.
    weight_decay : float, default 0
    """

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}")
        self.betas = (
            check_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
            check_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True),
        )
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        super().__init__(params, lr, weight_decay=weight_decay, buffers=("exp_avg", "exp_avg_sq"))

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        self._adam(i, value, self._l2_grad(i, value, grad))

    def _adam(self, i: int, value: np.ndarray, g: np.ndarray) -> None:
        """The Adam step of ``value`` from the (possibly decayed) gradient ``g``.

        One compiled loop (:mod:`bcekit.optim._kernels`, same bits) when Numba is loaded and
        the arrays are contiguous, else a dozen in-place NumPy operations.
        """
        beta1, beta2 = self.betas
        m, v, tmp = self.state[i]["exp_avg"], self.state[i]["exp_avg_sq"], self._tmp[i]
        t = self.step_count
        kernel = _compiled_adam(value, g, m, v)
        if kernel is not None:
            constants = (beta1, 1.0 - beta1, beta2, 1.0 - beta2, math.sqrt(1.0 - beta2**t))
            constants += (self.eps, self.lr / (1.0 - beta1**t))
            kernel(
                value.reshape(-1),
                g.reshape(-1),
                m.reshape(-1),
                v.reshape(-1),
                np.array(constants, dtype=value.dtype),
            )
            return
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=tmp)
        m += tmp
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1.0 - beta2**t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1.0 - beta1**t)
        value -= tmp


def _compiled_adam(value: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray) -> Any:
    """The compiled Adam loop if Numba is loaded and takes the arrays as they are, else None.

    They must be C-contiguous and share one float dtype (the loop works on flat views).
    """
    dtype = value.dtype
    if (
        "numba" not in sys.modules
        or dtype not in _KERNEL_DTYPES
        or not (g.dtype == m.dtype == v.dtype == dtype)
        or not (
            value.flags.c_contiguous
            and g.flags.c_contiguous
            and m.flags.c_contiguous
            and v.flags.c_contiguous
        )
    ):
        return None
    return _adam_loop()


@cache
def _adam_loop() -> Any:
    from bcekit.optim._kernels import adam

    return adam


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    The decay shrinks the parameter directly instead of entering the gradient:

    .. math::

        \theta' = \theta_{t-1}\,(1 - \eta\lambda), \qquad
        \theta_t = \mathrm{Adam}(\theta', \nabla_\theta L)

    where the Adam step is that of :class:`Adam` with :math:`\lambda = 0`.

    Parameters
    ----------
    params : iterable of parameters
    lr : float, default 1e-3
    weight_decay : float, default 1e-2
        :math:`\lambda \ge 0` (PyTorch's default).
    **adam
        ``betas`` and ``eps``, as :class:`Adam` takes them.
    """

    _decay_in_gradient = False

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float = 1e-3,
        *,
        weight_decay: float = 1e-2,
        **adam: Any,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay, **adam)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            value *= 1.0 - self.lr * self.weight_decay
        self._adam(i, value, grad)
