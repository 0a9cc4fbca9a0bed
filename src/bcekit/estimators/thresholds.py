"""Choosing a decision threshold on held-out scores, and describing the operating point.

A binary classifier turns a score ``s`` into a decision ``s > t`` (scikit-learn's
``decision_function > 0`` convention). On a rare positive class the default ``t``
(probability 0.5) flags too few positives; :func:`tune_threshold` picks ``t`` on validation
scores for one of four objectives, using the curves of :mod:`sklearn.metrics` (every
threshold at which a decision changes), and :func:`operating_point` reports the precision,
recall and confusion counts of hard decisions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_curve,
)

__all__ = ["OBJECTIVES", "ThresholdChoice", "operating_point", "tune_threshold"]

OBJECTIVES = ("f1", "precision_at_recall", "recall_at_precision", "cost")


@dataclass(frozen=True)
class ThresholdChoice:
    """A tuned threshold and the value of the objective it reaches on the tuning data.

    Attributes
    ----------
    threshold : float
        Decide positive when ``score > threshold``.
    objective : str
        The objective that was optimised.
    value : float
        F1, precision (``"precision_at_recall"``), recall (``"recall_at_precision"``) or
        expected cost per unit of sample weight (``"cost"``) at ``threshold``.
    """

    threshold: float
    objective: str
    value: float


def _check_fraction(value: float | None, name: str, objective: str) -> float:
    if value is None:
        raise ValueError(f"objective {objective!r} needs {name}; got None")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must lie in (0, 1]; got {value!r}")
    return float(value)


def _check_inputs(
    y_true: ArrayLike, scores: ArrayLike, sample_weight: ArrayLike | None, *, both: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(
            f"y_true and scores must be 1-D of the same length; got shapes {y.shape} and {s.shape}"
        )
    if y.size == 0:
        raise ValueError("y_true and scores must not be empty")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0 or 1; got values {np.unique(y)[:5].tolist()}")
    if both and y.min(initial=1) == y.max(initial=0):
        raise ValueError("y_true must contain both classes (0 and 1) to tune a threshold")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite; got NaN or infinity")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != y.shape or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(
                f"sample_weight must be finite, non-negative and of shape {y.shape}; "
                f"got shape {w.shape}"
            )
    return y.astype(np.int64), s, w


def _best(candidates: np.ndarray, primary: np.ndarray, secondary: np.ndarray) -> int:
    """Index among ``candidates`` maximising ``primary``, ties broken by ``secondary``."""
    top = candidates[primary[candidates] == primary[candidates].max()]
    return int(top[np.argmax(secondary[top])])


def tune_threshold(
    y_true: ArrayLike,
    scores: ArrayLike,
    objective: str = "f1",
    *,
    target_recall: float | None = None,
    target_precision: float | None = None,
    cost_ratio: float | None = None,
    sample_weight: ArrayLike | None = None,
) -> ThresholdChoice:
    r"""Pick the threshold on ``scores`` that optimises ``objective`` for labels ``y_true``.

    Every distinct score is a candidate cut (the curves are computed with
    ``drop_intermediate=False``), so the result is exact on the tuning data. The returned
    threshold lies halfway between the lowest score flagged and the highest score not
    flagged, so ``scores > threshold`` reproduces the chosen decisions with a margin on
    both sides.

    - ``"f1"``: maximise :math:`F_1 = 2PR / (P + R)`.
    - ``"precision_at_recall"``: maximise precision :math:`P` subject to
      :math:`R \ge` ``target_recall``.
    - ``"recall_at_precision"``: maximise recall :math:`R` subject to
      :math:`P \ge` ``target_precision``; if no threshold reaches that precision, a
      ``UserWarning`` is issued and the threshold of highest precision is returned.
    - ``"cost"``: minimise the expected cost per unit weight
      :math:`(c \cdot FN + FP) / W` with :math:`c` = ``cost_ratio`` (the cost of a missed
      positive relative to a false alarm). Flagging nothing is a candidate; its
      threshold is the largest score.

    Among cuts that tie on the optimised quantity, ``"f1"`` and ``"precision_at_recall"``
    keep the one with the higher recall, ``"recall_at_precision"`` the one with the higher
    precision, and ``"cost"`` the higher threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels, 0 or 1; both must occur.
    scores : array-like of shape (n_samples,)
        Finite scores, larger meaning more likely positive (probabilities or logits).
    objective : {"f1", "precision_at_recall", "recall_at_precision", "cost"}, default="f1"
    target_recall, target_precision : float in (0, 1], optional
        Constraint of the two constrained objectives.
    cost_ratio : float > 0, optional
        Cost of a false negative divided by the cost of a false positive.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    ThresholdChoice
        The threshold (decide positive when ``score > threshold``) and objective value.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")
    y, s, w = _check_inputs(y_true, scores, sample_weight)
    if objective == "cost":
        return _tune_cost(y, s, w, cost_ratio)

    precision, recall, thresholds = precision_recall_curve(
        y, s, sample_weight=w, drop_intermediate=False
    )
    # The curves end with (P=1, R=0), which has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    everything = np.arange(thresholds.size)
    if objective == "f1":
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        i = _best(everything, f1, recall)
        return ThresholdChoice(_cut_below(s, thresholds[i]), objective, float(f1[i]))
    if objective == "precision_at_recall":
        target = _check_fraction(target_recall, "target_recall", objective)
        i = _best(np.flatnonzero(recall >= target), precision, recall)
        return ThresholdChoice(_cut_below(s, thresholds[i]), objective, float(precision[i]))
    target = _check_fraction(target_precision, "target_precision", objective)
    reachable = np.flatnonzero(precision >= target)
    if reachable.size == 0:
        warnings.warn(
            f"no threshold reaches target_precision={target}; the highest precision on "
            f"these scores is {precision.max():.4g}, used instead",
            UserWarning,
            stacklevel=2,
        )
        i = _best(everything, precision, recall)
    else:
        i = _best(reachable, recall, precision)
    return ThresholdChoice(_cut_below(s, thresholds[i]), objective, float(recall[i]))


def _tune_cost(
    y: np.ndarray, s: np.ndarray, w: np.ndarray | None, cost_ratio: float | None
) -> ThresholdChoice:
    if cost_ratio is None:
        raise ValueError("objective 'cost' needs cost_ratio; got None")
    if not (np.isfinite(cost_ratio) and cost_ratio > 0):
        raise ValueError(f"cost_ratio must be a finite number > 0; got {cost_ratio!r}")
    weights = np.ones_like(s) if w is None else w
    positives, negatives = weights[y == 1].sum(), weights[y == 0].sum()
    fpr, tpr, thresholds = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    cost = (cost_ratio * (1.0 - tpr) * positives + fpr * negatives) / (positives + negatives)
    i = int(np.argmin(cost))
    # roc_curve's first threshold is +inf: "flag nothing", i.e. cut at the largest score.
    threshold = _cut_below(s, thresholds[i]) if np.isfinite(thresholds[i]) else float(s.max())
    return ThresholdChoice(threshold, "cost", float(cost[i]))


def _cut_below(scores: np.ndarray, lowest_flagged: float) -> float:
    """A cut ``t`` with ``scores > t`` exactly the scores ``>= lowest_flagged``: the midpoint
    between ``lowest_flagged`` and the next lower score (the next float down if none)."""
    below = scores[scores < lowest_flagged]
    if below.size == 0:
        return float(np.nextafter(lowest_flagged, -np.inf))
    return float(lowest_flagged + (below.max() - lowest_flagged) / 2)


def operating_point(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> dict[str, float]:
    """Precision, recall, F1 and confusion counts of hard 0/1 decisions.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels, 0 or 1.
    y_pred : array-like of shape (n_samples,)
        Decisions, 0 or 1.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (0 where undefined) and the (weighted) counts
        ``tn``, ``fp``, ``fn``, ``tp``.
    """
    y, decisions, w = _check_inputs(y_true, y_pred, sample_weight, both=False)
    if not np.isin(decisions, (0, 1)).all():
        raise ValueError("y_pred must hold 0 or 1")
    d = decisions.astype(np.int64)
    kwargs = {"sample_weight": w, "zero_division": 0.0}
    tn, fp, fn, tp = confusion_matrix(y, d, labels=[0, 1], sample_weight=w).ravel()
    return {
        "precision": float(precision_score(y, d, **kwargs)),
        "recall": float(recall_score(y, d, **kwargs)),
        "f1": float(f1_score(y, d, **kwargs)),
        "tn": float(tn),
        "fp": float(fp),
        "fn": float(fn),
        "tp": float(tp),
    }
