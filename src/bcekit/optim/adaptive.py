r"""RMSProp and Adagrad: steps scaled by running or summed squared gradients.

In the formulas, :math:`\theta` is a parameter, :math:`g` its gradient, :math:`\eta` the
learning rate and :math:`\lambda` the weight decay.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bcekit.optim.base import Optimizer, ParamLike, check_real

__all__ = ["Adagrad", "RMSProp"]


class RMSProp(Optimizer):
    r"""RMSProp: divide the gradient by a running root mean square of recent gradients.

    .. math::

        g_t &= \nabla_\theta L + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2 \\
        d_t &= g_t / (\sqrt{v_t} + \epsilon) \\
        b_t &= \mu\, b_{t-1} + d_t \quad (\text{when } \mu > 0) \\
        \theta_t &= \theta_{t-1} - \eta\, (b_t \text{ if } \mu > 0 \text{ else } d_t)

    Buffers ``"square_avg"`` (:math:`v`) and, with momentum, ``"momentum_buffer"`` (:math:`b`).

    Parameters
    ----------
    params : iterable of parameters
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant :math:`\alpha \in [0, 1)`.
    eps : float, default 1e-8
    momentum : float, default 0
        :math:`\mu \in [0, 1)`.
    weight_decay : float, default 0
    """

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        buffers = ("square_avg", "momentum_buffer") if self.momentum else ("square_avg",)
        super().__init__(params, lr, weight_decay=weight_decay, buffers=buffers)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        g, tmp, state = self._l2_grad(i, value, grad), self._tmp[i], self.state[i]
        v = state["square_avg"]
        v *= self.alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.alpha
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, self.lr, out=tmp)
        else:
            tmp *= self.lr
        value -= tmp


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.

    .. math::

        g_t &= \nabla_\theta L + \lambda\,\theta_{t-1} \\
        s_t &= s_{t-1} + g_t^2 \qquad (s_0 = \text{initial\_accumulator\_value}) \\
        \theta_t &= \theta_{t-1} - \eta\, g_t / (\sqrt{s_t} + \epsilon)

    Buffer ``"sum"`` (:math:`s`).

    Parameters
    ----------
    params : iterable of parameters
    lr : float, default 1e-2
    eps : float, default 1e-10
    initial_accumulator_value : float, default 0
        :math:`s_0 \ge 0`.
    weight_decay : float, default 0
    """

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float = 1e-2,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.initial_accumulator_value = check_real(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        super().__init__(params, lr, weight_decay=weight_decay, buffers=("sum",))
        for state in self.state:
            state["sum"].fill(self.initial_accumulator_value)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        g, tmp, s = self._l2_grad(i, value, grad), self._tmp[i], self.state[i]["sum"]
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= self.lr
        value -= tmp
