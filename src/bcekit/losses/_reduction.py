"""Weights, masks and reductions: from per-element losses to the value a caller asked for.

With per-element losses ``ℓᵢ``, weights ``wᵢ`` (1 without weights) and mask ``mᵢ`` (True
= counted), every reduction is ``Σ mᵢ wᵢ ℓᵢ / D``:

* ``"mean"``: ``D`` = number of counted elements (PyTorch's mean when there is no mask);
* ``"weighted_mean"``: ``D = Σ mᵢ wᵢ`` (scikit-learn's ``log_loss`` with ``sample_weight``);
* ``"sum"``: ``D = 1``;
* ``"none"``: no sum; the array ``mᵢ wᵢ ℓᵢ`` (zeros where masked).

A mean over nothing (``D = 0``) is 0.0 with a zero gradient. Sums accumulate in float64 and
the reduced value is returned as a Python float; a sum beyond the float64 range is +inf.
"""

from __future__ import annotations

import math

import numpy as np


def element_factor(
    weight: np.ndarray | None, mask: np.ndarray | None, dtype: np.dtype
) -> np.ndarray | None:
    """``mᵢ wᵢ`` in the broadcast shape of ``weight`` and ``mask`` (None when both are None)."""
    if mask is None:
        return weight
    return np.where(mask, weight if weight is not None else 1, 0).astype(dtype, copy=False)


def denominator(
    reduction: str, shape: tuple[int, ...], factor: np.ndarray | None, mask: np.ndarray | None
) -> float:
    """``D`` of the reduction for elements of ``shape``; see the module docstring.

    ``factor`` and ``mask`` broadcast to ``shape``, which repeats each of their entries
    ``size / factor.size`` times, so their sums need not be taken over the broadcast view.
    """
    size = math.prod(shape)
    if reduction == "sum":
        return 1.0
    if reduction == "weighted_mean" and factor is not None:
        if factor.size == 0:
            return 0.0
        return float(np.add.reduce(factor, axis=None, dtype=np.float64)) * (size // factor.size)
    if mask is None:
        return float(size)
    if mask.size == 0:
        return 0.0
    return float(np.count_nonzero(mask) * (size // mask.size))


def reduce(
    loss: np.ndarray,
    *,
    weight: np.ndarray | None,
    mask: np.ndarray | None,
    reduction: str,
    finite: bool,
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Apply weights, mask and reduction to the per-element losses ``loss`` (changed in place).

    Parameters
    ----------
    loss : ndarray
        Per-element losses, owned by the caller and overwritten.
    weight, mask : ndarray or None
        Validated, broadcasting to ``loss.shape``.
    reduction : str
        One of ``"mean"``, ``"weighted_mean"``, ``"sum"``, ``"none"``.
    finite : bool
        Whether every ``loss`` is finite. If not, elements with zero weight or masked out are
        set to 0 rather than ``0·inf``.

    Returns
    -------
    value : float or ndarray
        The reduced loss (a Python float), or the weighted, masked array for ``"none"``.
    grad_factor : float or ndarray
        ``∂value/∂ℓᵢ = mᵢ wᵢ / D``, a float or an array broadcasting to ``loss.shape``; the
        gradient with respect to the predictions is ``grad_factor · ∂ℓᵢ/∂predᵢ``.
    """
    factor = element_factor(weight, mask, loss.dtype)
    if factor is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            loss *= factor
        if not finite:
            np.copyto(loss, 0, where=factor == 0)
    if reduction == "none":
        return loss, (1.0 if factor is None else factor)
    d = denominator(reduction, loss.shape, factor, mask)
    if d == 0:
        return 0.0, 0.0
    with np.errstate(over="ignore"):
        value = float(np.add.reduce(loss, axis=None, dtype=np.float64)) / d
    if factor is None:
        return value, 1.0 / d
    return value, factor / loss.dtype.type(d)


def scale_grad(grad: np.ndarray, grad_factor: float | np.ndarray) -> np.ndarray:
    """Multiply the element-wise derivatives ``grad`` in place by the factor from :func:`reduce`."""
    if not (isinstance(grad_factor, float) and grad_factor == 1.0):
        grad *= grad_factor
    return grad
