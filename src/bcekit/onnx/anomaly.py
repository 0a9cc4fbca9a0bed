"""A fitted :class:`bcekit.AnomalyClassifier` in ONNX: its base logits to calibrated log-odds.

As :meth:`~bcekit.AnomalyClassifier.predict_proba` computes it, in float64 after the base
model: the raw score :math:`s` (the base model's logit) becomes calibrated log-odds

- no calibration: :math:`ℓ = s`;
- Platt (``"sigmoid"``): :math:`ℓ = −(a s + b)`;
- isotonic: :math:`p = \\operatorname{interp}(s)`, linear between the knots
  :math:`(x_k, y_k)` and constant beyond the end knots, then
  :math:`ℓ = \\log(p / (1 − p))` with :math:`p` clipped to :math:`[10^{-15}, 1 − 10^{-15}]`.

The interpolation finds the knot below :math:`s` by counting the knots :math:`x_k ≤ s`
(one comparison per knot and row), then :math:`p = y_j + m_j (s − x_j)` with the segment's
slope :math:`m_j = (y_{j+1} − y_j)/(x_{j+1} − x_j)`, NumPy's formula. ``probabilities`` are
:math:`[σ(−ℓ), σ(ℓ)]` and ``label`` is ``classes_[1]`` where :math:`ℓ` exceeds
``threshold_log_odds_``, so ``label`` equals ``predict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.estimators.calibration import EPS
from bcekit.onnx.graph import Graph, element_type

_F64 = np.dtype(np.float64)


def anomaly_log_odds(g: Graph, model: Any, z: str, z_dtype: np.dtype) -> str:
    """The calibrated float64 log-odds :math:`ℓ` from the base model's logits ``z``.

    ``model`` is a fitted AnomalyClassifier; :func:`bcekit.onnx.classifiers.emit_classifier`
    builds ``z`` (of ``z_dtype``) and compares :math:`ℓ` with ``threshold_log_odds_``.
    """
    score = g.cast(z, _F64, z_dtype)
    return _calibrate(g, score, model.calibration_, np.asarray(model.calibration_params_))


def _calibrate(g: Graph, s: str, method: str | None, params: np.ndarray) -> str:
    if method is None:
        return s
    if method == "sigmoid":
        a, b = (float(v) for v in params)
        scaled = g.op("Mul", [s, g.constant(a, "platt_a", _F64)])
        return g.op("Neg", [g.op("Add", [scaled, g.constant(b, "platt_b", _F64)])], hint="log_odds")
    if method != "isotonic":
        raise ValueError(f"calibration_ must be None, 'sigmoid' or 'isotonic'; got {method!r}")
    p = _interp(g, s, params[0], params[1])
    p = g.op("Clip", [p, g.constant(EPS, "p_min", _F64), g.constant(1.0 - EPS, "p_max", _F64)])
    odds = g.op("Div", [p, g.op("Sub", [g.constant(1.0, "one", _F64), p])])
    return g.op("Log", [odds], hint="log_odds")


def _interp(g: Graph, s: str, xp: np.ndarray, fp: np.ndarray) -> str:
    """``np.interp(s, xp, fp)`` for ``s`` of shape ``(N, 1)`` and increasing knots ``xp``."""
    if len(xp) == 1:  # a constant map
        return g.op(
            "Add", [g.op("Mul", [s, g.constant(0.0, "zero", _F64)]), g.constant(fp, "value", _F64)]
        )
    slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    at_or_above = g.op("GreaterOrEqual", [s, g.constant(xp, "knots", _F64)])
    count = g.op("Cast", [at_or_above], to=element_type(np.int64))
    count = g.op("ReduceSum", [count, g.constant([1], "axis_1", np.int64)], keepdims=1)
    j = g.op("Sub", [count, g.constant(1, "one_int", np.int64)])
    j = g.op("Max", [j, g.constant(0, "first_segment", np.int64)])
    j = g.op("Min", [j, g.constant(len(xp) - 2, "last_segment", np.int64)], hint="segment")
    x0 = g.op("Gather", [g.constant(xp[:-1], "knot_x", _F64), j], axis=0)
    y0 = g.op("Gather", [g.constant(fp[:-1], "knot_y", _F64), j], axis=0)
    slope = g.op("Gather", [g.constant(slopes, "knot_slope", _F64), j], axis=0)
    p = g.op("Add", [g.op("Mul", [slope, g.op("Sub", [s, x0])]), y0], hint="interp")
    below = g.op("LessOrEqual", [s, g.constant(xp[0], "first_knot", _F64)])
    p = g.op("Where", [below, g.constant(fp[0], "first_value", _F64), p])
    above = g.op("GreaterOrEqual", [s, g.constant(xp[-1], "last_knot", _F64)])
    return g.op("Where", [above, g.constant(fp[-1], "last_value", _F64), p], hint="interp")
