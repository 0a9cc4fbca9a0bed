r"""Optimisers: update parameters in place from their accumulated gradients.

An optimiser holds a list of parameters (any object with ``value`` and ``grad`` arrays, such
as :class:`bcekit.nn.base.Parameter`) and, for each, state buffers preallocated in the
parameter's dtype. :meth:`Optimizer.step` applies one update with in-place NumPy operations
(Adam with one compiled loop giving the same bits, once Numba is loaded) and
:meth:`Optimizer.zero_grad` clears the gradients. The update rules are those of
``torch.optim``, so a run agrees with PyTorch step by step.

State is plain data: :meth:`Optimizer.state_dict` gives the class name, the step count and the
learning rate (JSON scalars) and one array per parameter and buffer, keyed
``"<parameter index>.<buffer name>"`` (e.g. ``"0.exp_avg"``), ready for safetensors.
:meth:`Optimizer.load_state_dict` copies such a dict back. Hyperparameters other than the
learning rate are configuration, given to the constructor, and are not part of the state.

In the formulas, :math:`\theta` is a parameter, :math:`g` its gradient, :math:`\eta` the
learning rate, :math:`\lambda` the weight decay and :math:`t` the step count (1 on the first
step).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Protocol

import numpy as np

__all__ = ["OPTIMIZERS", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "ParamLike", "RMSProp"]


class ParamLike(Protocol):
    """What an optimiser needs of a parameter: a ``value`` array and a ``grad`` of its shape."""

    value: np.ndarray
    grad: np.ndarray


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given bounds, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value)
    if low is not None:
        ok = ok and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if not ok:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}; got {value!r}")
    return value


def check_params(params: Iterable[ParamLike]) -> list[ParamLike]:
    """The parameters as a list, checked: distinct objects with float ``value`` and ``grad``."""
    if isinstance(params, np.ndarray) or not isinstance(params, Iterable):
        raise TypeError(
            "params must be an iterable of parameters (objects with value and grad arrays); "
            f"got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one parameter; got an empty list")
    for i, p in enumerate(params):
        value, grad = getattr(p, "value", None), getattr(p, "grad", None)
        if not isinstance(value, np.ndarray) or not isinstance(grad, np.ndarray):
            raise TypeError(
                f"params[{i}] must have ndarray attributes value and grad; got {type(p).__name__}"
            )
        if not np.issubdtype(value.dtype, np.floating) or grad.shape != value.shape:
            raise ValueError(
                f"params[{i}] must have a floating value and a grad of the same shape; got "
                f"value {value.dtype} {value.shape} and grad {grad.dtype} {grad.shape}"
            )
    if len({id(p) for p in params}) != len(params):
        raise ValueError("params must not list the same parameter twice")
    return params


class Optimizer:
    """Base class: per-parameter state buffers, ``step``, ``zero_grad`` and the state dict.

    Subclasses name their buffers and implement :meth:`_update` for one parameter.

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``value`` and ``grad`` ndarrays of one shape; ``value`` is updated in place.
    lr : float
        Learning rate :math:`\\eta \\ge 0`; settable later (``opt.lr = ...``) by schedules.
    weight_decay : float
        :math:`\\lambda \\ge 0`, used as each subclass documents.
    buffers : tuple of str
        Names of the state buffers kept for every parameter (zero-initialised).

    Notes
    -----
    Subclasses whose decay enters the gradient (``g + λθ``) read it from :meth:`_l2_grad`;
    those that decay the parameter directly set ``_decay_in_gradient = False``.

    Attributes
    ----------
    params : list
        The parameters, in the order their state is indexed.
    state : list of dict
        For each parameter, buffer name -> array of the parameter's shape and dtype.
    step_count : int
        Number of :meth:`step` calls so far (:math:`t` of the last step).
    """

    _decay_in_gradient = True

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float,
        *,
        weight_decay: float = 0.0,
        buffers: tuple[str, ...] = (),
    ) -> None:
        self.params = check_params(params)
        self.lr = lr
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [
            {name: np.zeros_like(p.value) for name in buffers} for p in self.params
        ]
        # Scratch space so that a step allocates no temporaries.
        self._tmp = [np.empty_like(p.value) for p in self.params]
        self._decayed = (
            [np.empty_like(p.value) for p in self.params]
            if self.weight_decay and self._decay_in_gradient
            else None
        )

    @property
    def lr(self) -> float:
        """The learning rate used by the next :meth:`step`."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real("lr", value, low=0.0)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero."""
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:
        """Apply one update to every parameter from its current gradient."""
        self.step_count += 1
        for i, p in enumerate(self.params):
            self._update(i, p.value, p.grad)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _l2_grad(self, i: int, value: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """:math:`g + \\lambda\\theta` (the gradient itself when :math:`\\lambda = 0`)."""
        if self._decayed is None:
            return grad
        out = self._decayed[i]
        np.multiply(value, self.weight_decay, out=out)
        out += grad
        return out

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state as JSON scalars and copies of the buffers.

        Returns
        -------
        dict
            ``"type"`` (class name), ``"step"`` (int), ``"lr"`` (float), and an ndarray for
            each parameter index ``i`` and buffer name ``b`` under the key ``f"{i}.{b}"``.
        """
        out: dict[str, Any] = {"type": type(self).__name__, "step": self.step_count, "lr": self.lr}
        for i, buffers in enumerate(self.state):
            for name, buf in buffers.items():
                out[f"{i}.{name}"] = buf.copy()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict` (buffers are copied in place).

        Raises
        ------
        ValueError
            If the dict is for another optimiser class, misses or adds keys, or an array's
            shape differs from its parameter's.
        """
        kind = state.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"state is for a {kind} optimiser, not {type(self).__name__}")
        expected = {f"{i}.{name}" for i, buffers in enumerate(self.state) for name in buffers}
        given = set(state) - {"type", "step", "lr"}
        missing = {"step", "lr"} - set(state)
        if given != expected or missing:
            raise ValueError(
                f"state does not match this {type(self).__name__}: missing "
                f"{sorted((expected - given) | missing)}, unexpected {sorted(given - expected)}"
            )
        for key in sorted(expected):
            i, name = key.split(".", 1)
            buf, arr = self.state[int(i)][name], np.asarray(state[key])
            if arr.shape != buf.shape:
                raise ValueError(f"state[{key!r}] must have shape {buf.shape}; got {arr.shape}")
            np.copyto(buf, arr, casting="same_kind")
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
            raise ValueError(f"state['step'] must be an int >= 0; got {step!r}")
        self.step_count = int(step)
        self.lr = state["lr"]


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
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
        :math:`\lambda \ge 0` (PyTorch's default).
    """

    _decay_in_gradient = False

    def __init__(
        self,
        params: Iterable[ParamLike],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _update(self, i: int, value: np.ndarray, grad: np.ndarray) -> None:
        if self.weight_decay:
            value *= 1.0 - self.lr * self.weight_decay
        self._adam(i, value, grad)


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


#: Optimiser classes by lower-case name, for estimators' ``solver`` and the command line.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSProp,
    "adagrad": Adagrad,
}
