r"""The optimiser base class and the checks every optimiser shares.

An optimiser holds a list of parameters (any object with ``value`` and ``grad`` arrays, such
as :class:`bcekit.nn.base.Parameter`) and, for each, state buffers preallocated in the
parameter's dtype. :meth:`Optimizer.step` applies one update with in-place NumPy operations
and :meth:`Optimizer.zero_grad` clears the gradients. The update rules (:mod:`bcekit.optim.sgd`,
:mod:`bcekit.optim.adam`, :mod:`bcekit.optim.adaptive`) are those of ``torch.optim``, so a run
agrees with PyTorch step by step.

State is plain data: :meth:`Optimizer.state_dict` gives the class name, the step count and the
learning rate (JSON scalars) and one array per parameter and buffer, keyed
``"<parameter index>.<buffer name>"`` (e.g. ``"0.exp_avg"``), ready for safetensors.
:meth:`Optimizer.load_state_dict` copies such a dict back. Hyperparameters other than the
learning rate are configuration, given to the constructor, and are not part of the state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from bcekit._checks import check_integer

__all__ = ["Optimizer", "ParamLike", "check_params", "check_real"]


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
        self.step_count = check_integer(state["step"], "state['step']")
        self.lr = state["lr"]
