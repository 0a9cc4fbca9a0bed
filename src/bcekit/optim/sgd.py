r"""Stochastic gradient descent with momentum, Nesterov momentum and L2 decay.

In the formulas, :math:`\theta` is a parameter, :math:`g` its gradient, :math:`\eta` the
learning rate and :math:`\lambda` the weight decay.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bcekit.optim.base import Optimizer, ParamLike, check_real

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    .. math::

        g_t &= \nabla_\theta L + \lambda\,\theta_{t-1} \\
        b_t &= \mu\, b_{t-1} + g_t \qquad (b_0 = 0) \\
        \theta_t &= \theta_{t-1} - \eta \cdot \begin{cases}
            g_t + \mu\, b_t & \text{Nesterov} \\
            b_t & \text{momentum } \mu > 0 \\
            g_t & \mu = 0 \end{cases}

    Parameters
    ----------
    params : iterable of parameters
    lr : float
        Learning rate :math:`\eta \ge 0`.
    momentum : float, default 0
        :math:`\mu \in [0, 1)`; the buffer ``"momentum_buffer"`` exists only when :math:`\mu > 0`.
    nesterov : bool, default False
        Use Nesterov momentum (needs :math:`\mu > 0`).
    weight_decay : float, default 0
        L2 penalty :math:`\lambda \ge 0`, added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0; got momentum=0")
        self.nesterov = bool(nesterov)
        buffers = ("momentum_buffer",) if self.momentum else ()
        super().__init__(params, lr, weight_decay=weight_decay, buffers=buffers)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        g, tmp = self._l2_grad(i, value, grad), self._tmp[i]
        direction = g
        if self.momentum:
            buf = self.state[i]["momentum_buffer"]
            buf *= self.momentum
            buf += g
            direction = buf
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                direction = tmp
        np.multiply(direction, self.lr, out=tmp)
        value -= tmp
