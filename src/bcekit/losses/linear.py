r"""The linear-logistic objective and its gradient, for L-BFGS and other full-batch solvers.

For rows :math:`x_i`, targets :math:`y_i \in [0, 1]`, sample weights :math:`s_i \ge 0`,
coefficients :math:`w` and intercept :math:`b`:

.. math::

    f(w, b) = \sum_i s_i\, \ell(x_i \cdot w + b,\ y_i), \qquad
    \nabla_w f = X^\top r, \quad \partial_b f = \sum_i r_i, \quad
    r_i = s_i\, \frac{\partial \ell}{\partial z}(x_i \cdot w + b,\ y_i),

with :math:`\ell` the BCE-with-logits loss including ``pos_weight`` and ``label_smoothing``
(see :mod:`bcekit.losses._kernels`). A dense C-contiguous ``X`` is read once per evaluation:
each tile of rows gives its logits, losses and residuals and adds :math:`X_{tile}^\top r` while
the rows are still in cache. Other layouts and ``scipy.sparse`` matrices take two products,
``X @ w`` and ``X.T @ r``, around the fused loss kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from bcekit.losses import _kernels
from bcekit.losses._validation import _check_values

__all__ = ["logistic_objective"]


def logistic_objective(
    X: Any,
    y: Any,
    coef: Any,
    intercept: float,
    *,
    sample_weight: Any = None,
    pos_weight: float = 1.0,
    label_smoothing: float = 0.0,
    fit_intercept: bool = True,
) -> tuple[float, np.ndarray, float]:
    r"""Weighted BCE-with-logits of a linear model and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix, shape (n_samples, n_features)
        float32 or float64 features (other dtypes are converted to float64). Dense
        C-contiguous arrays take the one-pass path; sparse matrices are converted to CSR.
    y : array-like, shape (n_samples,)
        Targets in [0, 1] (soft targets allowed).
    coef : array-like, shape (n_features,)
        Coefficients :math:`w`.
    intercept : float
        Intercept :math:`b`, added to every logit.
    sample_weight : array-like, shape (n_samples,), optional
        Non-negative weights :math:`s_i`; None means all ones.
    pos_weight : float, default=1.0
        Weight :math:`p_w` of the positive term,
        :math:`\ell = -[p_w y' \log\sigma(z) + (1 - y')\log(1 - \sigma(z))]`.
    label_smoothing : float in [0, 1), default=0.0
        Targets become :math:`y' = y(1 - s) + s/2`.
    fit_intercept : bool, default=True
        Whether to return the derivative with respect to the intercept; when False the
        intercept is a fixed offset and ``0.0`` is returned in its place.

    Returns
    -------
    value : float
        :math:`\sum_i s_i \ell_i`.
    grad_coef : numpy.ndarray of float64, shape (n_features,)
        :math:`X^\top r`.
    grad_intercept : float
        :math:`\sum_i r_i` (0.0 when ``fit_intercept`` is False).

    Raises
    ------
    ValueError
        On mismatched shapes, targets outside [0, 1], negative or non-finite sample weights,
        ``pos_weight < 0``, ``label_smoothing`` outside [0, 1), or when the value is NaN
        (non-finite entries in ``X``, ``coef`` or ``intercept``).

    Notes
    -----
    Sums are accumulated in float64 for float32 data as well. ``X`` is not scanned for NaN on
    each call (that would double the cost); a NaN anywhere shows up in the value and raises.

    The dense pass runs on Numba's threads. A solver that calls BLAS between evaluations
    (SciPy's L-BFGS-B does, on tiny vectors) wakes BLAS threads that then spin on the same
    cores: on two cores each evaluation took about three times as long. Drive it with BLAS
    limited to one thread (``threadpoolctl.threadpool_limits(1, user_api="blas")``), as
    :class:`bcekit.estimators.LogisticRegression` does.
    """
    X = _as_matrix(X)
    n, d = X.shape
    dtype = X.dtype
    y = _as_vector("y", y, n, dtype)
    coef = _as_vector("coef", coef, d, dtype)
    _check_values(y, "y", 0.0, 1.0, allow_inf=False)
    if sample_weight is not None:
        sample_weight = _as_vector("sample_weight", sample_weight, n, dtype)
        if sample_weight.size and not (
            sample_weight.min() >= 0 and np.isfinite(sample_weight.max())
        ):
            raise ValueError(
                "sample_weight must be finite and >= 0; got values in "
                f"[{sample_weight.min()}, {sample_weight.max()}]"
            )
    pos_weight, label_smoothing = _kernels.check_constants(pos_weight, label_smoothing)
    intercept = float(intercept)

    if isinstance(X, np.ndarray) and X.flags.c_contiguous:
        value, grad_coef, grad_b = _kernels.logistic_dense(
            X, y, sample_weight, coef, intercept, pos_weight, label_smoothing
        )
    else:
        value, grad_coef, grad_b = _two_products(
            X, y, sample_weight, coef, intercept, pos_weight, label_smoothing
        )
    if np.isnan(value):
        raise ValueError(
            "the objective is NaN: X, coef and intercept must be finite "
            "(X is not scanned up front; check it with numpy.isfinite)"
        )
    return value, grad_coef, (grad_b if fit_intercept else 0.0)


def _two_products(X, y, sample_weight, coef, intercept, pos_weight, label_smoothing):
    """``z = X @ w + b``, the fused loss kernel, ``X.T @ r``: for sparse or strided ``X``."""
    z = np.ascontiguousarray(X @ coef, dtype=X.dtype)
    z += X.dtype.type(intercept)
    r = np.empty_like(z)
    value = _kernels.bce_with_logits_fused(z, y, sample_weight, r, pos_weight, label_smoothing, 1.0)
    grad_coef = np.asarray(X.T @ r, dtype=np.float64).ravel()
    return value, grad_coef, float(r.sum(dtype=np.float64))


def _as_matrix(X: Any) -> Any:
    if sp.issparse(X):
        X = X.tocsr()
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    else:
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}")
    return X


def _as_vector(name: str, v: Any, n: int, dtype: np.dtype) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=dtype)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},); got {v.shape}")
    return v
