"""Element-wise activation layers, each with its derivative beside it.

Every activation keeps the floating dtype of its input (other dtypes become float64).
``inplace=True`` lets a layer overwrite its input in ``forward`` and ``grad_out`` in
``backward``; use it only where no one else reads those arrays afterwards, as
:func:`bcekit.nn.mlp` does for activations that sit between two Dense layers.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr

from .base import Layer, check_grad_shape

_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))
_CACHE_SIZED = 1 << 17  # elements


def as_float(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 or float64 (its own dtype if it is one of them, else float64)."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


class _Elementwise(Layer):
    """Shared bookkeeping: the shape of the last input, for checking ``grad_out``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)
        self._shape: tuple[int, ...] | None = None

    def _begin(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._shape = x.shape
        return x

    def _target(self, a: np.ndarray) -> np.ndarray | None:
        """Where to write a result computed from ``a``: ``a`` itself when in place."""
        return a if self.inplace else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(_Elementwise):
    """:math:`y = x`; :math:`∂L/∂x = g`."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._begin(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        return grad_out


class ReLU(_Elementwise):
    r""":math:`y = \max(0, x)`; :math:`∂L/∂x = g \cdot 1[x > 0]` (0 at the kink)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(inplace)
        self._zeros = np.zeros(0)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._begin(x)
        self._mask = (x > 0).astype(x.dtype)
        return np.maximum(x, self._zero_like(x), out=self._target(x))

    def _zero_like(self, x: np.ndarray) -> np.ndarray | float:
        """0 to compare with: a cached zero array for cache-sized ``x``, else a scalar.

        NumPy's ``maximum`` against an array is 2-3x faster than against a scalar while
        the data sit in cache; for larger arrays the extra read makes it slower.
        """
        if x.size > _CACHE_SIZED:
            return 0.0
        if self._zeros.shape != x.shape or self._zeros.dtype != x.dtype:
            self._zeros = np.zeros_like(x)
        return self._zeros

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        return np.multiply(grad_out, self._mask, out=self._target(grad_out))


class LeakyReLU(_Elementwise):
    r"""Leaky ReLU: :math:`y = x` for :math:`x > 0`, else :math:`a x`.

    Backward: :math:`∂L/∂x = g` where :math:`x > 0`, else :math:`a g`.

    Parameters
    ----------
    negative_slope : float
        The slope :math:`a` for negative inputs (finite; 0.01 by default).
    inplace : bool
        Overwrite the input and ``grad_out`` (see the module notes).
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        slope = float(negative_slope)
        if not np.isfinite(slope):
            raise ValueError(f"negative_slope must be a finite number; got {negative_slope!r}")
        self.negative_slope = slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._begin(x)
        slope = self.negative_slope
        self._d = d = (x > 0).astype(x.dtype)  # local derivative: 1 or slope
        d *= 1.0 - slope
        d += slope
        return np.multiply(x, d, out=self._target(x))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        return np.multiply(grad_out, self._d, out=self._target(grad_out))

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Tanh(_Elementwise):
    r""":math:`y = \tanh x`; :math:`∂L/∂x = g\,(1 - y^2)`."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._begin(x)
        self._y = np.tanh(x, out=self._target(x))
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        d = np.square(self._y)
        np.subtract(1, d, out=d)
        return np.multiply(grad_out, d, out=self._target(grad_out))


class Sigmoid(_Elementwise):
    r""":math:`y = σ(x) = 1 / (1 + e^{-x})`; :math:`∂L/∂x = g\,y\,(1 - y)`.

    Computed with :func:`scipy.special.expit`, which never overflows and gives exact
    limits at ±inf.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._begin(x)
        self._y = expit(x, out=self._target(x))
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        d = np.subtract(1, self._y)
        d *= self._y
        return np.multiply(grad_out, d, out=self._target(grad_out))


class GELU(_Elementwise):
    r"""Exact Gaussian error linear unit, :math:`y = x\,Φ(x)`.

    :math:`Φ` is the standard normal CDF, :math:`Φ(x) = ½(1 + \operatorname{erf}(x/\sqrt2))`,
    evaluated exactly with :func:`scipy.special.ndtr` (not the tanh approximation).
    Backward: :math:`∂L/∂x = g\,(Φ(x) + x\,φ(x))`, :math:`φ(x) = e^{-x^2/2}/\sqrt{2π}`.
    The limits at ±inf (0 and :math:`x`; slopes 0 and 1) are exact.
    """

    def __init__(self) -> None:
        super().__init__(inplace=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x = self._begin(x)
        self._cdf = cdf = ndtr(x)
        y = np.zeros_like(x)
        np.multiply(x, cdf, out=y, where=cdf != 0)  # y = 0 where Φ underflows, even at -inf
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        x = self._x
        x_pdf = np.exp(-0.5 * np.square(x))
        x_pdf *= _INV_SQRT_2PI
        np.multiply(x_pdf, x, out=x_pdf, where=x_pdf != 0)  # x φ(x) = 0 where φ underflows
        x_pdf += self._cdf
        return x_pdf * grad_out


#: Activation layers by name; ``"logistic"`` and ``"identity"`` follow scikit-learn.
ACTIVATIONS: dict[str, type[_Elementwise]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "logistic": Sigmoid,
    "gelu": GELU,
    "identity": Identity,
    "linear": Identity,
}


def get_activation(name: str, *, inplace: bool = False) -> Layer:
    """A new activation layer for ``name`` (a key of :data:`ACTIVATIONS`).

    ``inplace`` is passed on to the layers that support it (all but GELU).
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {name!r}")
    cls = ACTIVATIONS[name]
    return cls() if cls is GELU else cls(inplace=inplace)
