"""Tests for bcekit.estimators.thresholds against brute force over every possible cut."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

from bcekit.estimators.thresholds import operating_point, tune_threshold


def _cuts(scores):
    """Every distinct decision on ``scores``: flag ``s >= c`` per distinct c, or nothing."""
    return [scores >= c for c in np.unique(scores)] + [np.zeros(scores.size, dtype=bool)]


def _metrics(y, flagged, w):
    kw = {"sample_weight": w, "zero_division": 0.0}
    _, fp, fn, _ = confusion_matrix(y, flagged.astype(int), labels=[0, 1], sample_weight=w).ravel()
    return {
        "precision": precision_score(y, flagged, **kw),
        "recall": recall_score(y, flagged, **kw),
        "f1": f1_score(y, flagged, **kw),
        "fp": fp,
        "fn": fn,
    }


@st.composite
def problems(draw):
    n = draw(st.integers(4, 40))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[0], y[1] = 0, 1
    # Integer-valued scores give many ties.
    scores = np.array(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)), dtype=float)
    weighted = draw(st.booleans())
    w = np.array(draw(st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n))) if weighted else None
    return y, scores, w


@settings(max_examples=60, deadline=None)
@given(problems())
def test_f1_is_the_best_cut(problem):
    y, s, w = problem
    best = max(_metrics(y, cut, w)["f1"] for cut in _cuts(s))
    choice = tune_threshold(y, s, "f1", sample_weight=w)
    assert choice.value == pytest.approx(best, abs=1e-12)
    reached = _metrics(y, s > choice.threshold, w)["f1"]
    assert reached == pytest.approx(best, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from([0.1, 0.5, 0.8, 1.0]))
def test_precision_at_recall_is_the_best_feasible_cut(problem, target):
    y, s, w = problem
    feasible = [m for m in map(lambda c: _metrics(y, c, w), _cuts(s)) if m["recall"] >= target]
    best = max(m["precision"] for m in feasible)
    choice = tune_threshold(y, s, "precision_at_recall", target_recall=target, sample_weight=w)
    reached = _metrics(y, s > choice.threshold, w)
    assert reached["recall"] >= target - 1e-12
    assert reached["precision"] == pytest.approx(best, abs=1e-12)
    assert choice.value == pytest.approx(best, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from([0.3, 0.6, 0.9]))
def test_recall_at_precision_is_the_best_feasible_cut(problem, target):
    y, s, w = problem
    metrics = [_metrics(y, c, w) for c in _cuts(s)[:-1]]
    feasible = [m for m in metrics if m["precision"] >= target]
    if not feasible:
        with pytest.warns(UserWarning, match="no threshold reaches target_precision"):
            choice = tune_threshold(
                y, s, "recall_at_precision", target_precision=target, sample_weight=w
            )
        best_precision = max(m["precision"] for m in metrics)
        reached = _metrics(y, s > choice.threshold, w)
        assert reached["precision"] == pytest.approx(best_precision, abs=1e-12)
        return
    best = max(m["recall"] for m in feasible)
    choice = tune_threshold(y, s, "recall_at_precision", target_precision=target, sample_weight=w)
    reached = _metrics(y, s > choice.threshold, w)
    assert reached["precision"] >= target - 1e-12
    assert reached["recall"] == pytest.approx(best, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from([0.5, 1.0, 10.0, 100.0]))
def test_cost_is_the_cheapest_cut(problem, ratio):
    y, s, w = problem
    total = y.size if w is None else w.sum()

    def cost(cut):
        m = _metrics(y, cut, w)
        return (ratio * m["fn"] + m["fp"]) / total

    best = min(cost(cut) for cut in _cuts(s))
    choice = tune_threshold(y, s, "cost", cost_ratio=ratio, sample_weight=w)
    assert choice.value == pytest.approx(best, abs=1e-12)
    assert cost(s > choice.threshold) == pytest.approx(best, abs=1e-12)


def test_threshold_is_the_midpoint_between_flagged_and_not():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    # F1 = 1 by flagging {0.4, 0.8}; the cut lies halfway between 0.35 and 0.4.
    choice = tune_threshold(y, s)
    assert choice.threshold == pytest.approx(0.375)
    assert choice.value == 1.0


def test_cost_can_choose_to_flag_nothing():
    y = np.array([0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2])
    # A missed positive costs 0.5 of a false alarm: flagging nothing costs 0.5 / 5.
    choice = tune_threshold(y, s, "cost", cost_ratio=0.5)
    assert choice.threshold == 0.9
    assert not (s > choice.threshold).any()
    assert choice.value == pytest.approx(0.1)


def test_recall_target_of_one_flags_every_positive():
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.2, 0.3, 0.9, 0.1, 0.5, 0.6])
    choice = tune_threshold(y, s, "precision_at_recall", target_recall=1.0)
    flagged = s > choice.threshold
    assert flagged[y == 1].all()
    # The lowest positive score is 0.2; 0.1 (a negative) stays below the cut.
    assert choice.threshold == pytest.approx(0.15)
    assert choice.value == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objective": "accuracy"}, "objective must be one of"),
        ({"objective": "precision_at_recall"}, "needs target_recall"),
        ({"objective": "recall_at_precision"}, "needs target_precision"),
        ({"objective": "precision_at_recall", "target_recall": 1.5}, r"target_recall must lie"),
        ({"objective": "recall_at_precision", "target_precision": 0.0}, "target_precision"),
        ({"objective": "cost"}, "needs cost_ratio"),
        ({"objective": "cost", "cost_ratio": -1.0}, "cost_ratio must be"),
        ({"sample_weight": [1.0, -1.0, 1.0, 1.0]}, "sample_weight must be"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tune_threshold([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], **kwargs)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "y_true must hold 0 or 1"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([0, 1], [0.1, np.nan], "scores must be finite"),
        ([0, 1], [0.1, np.inf], "scores must be finite"),
        ([0, 1, 0], [0.1, 0.2], "same length"),
        ([], [], "must not be empty"),
    ],
)
def test_bad_data(y, s, match):
    with pytest.raises(ValueError, match=match):
        tune_threshold(y, s)


def test_operating_point_counts():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    d = np.array([0, 1, 0, 1, 1, 0, 1])
    point = operating_point(y, d)
    assert (point["tn"], point["fp"], point["fn"], point["tp"]) == (2, 1, 1, 3)
    assert point["precision"] == pytest.approx(3 / 4)
    assert point["recall"] == pytest.approx(3 / 4)
    assert point["f1"] == pytest.approx(3 / 4)
    weighted = operating_point(y, d, sample_weight=[1, 2, 1, 1, 1, 1, 1])
    assert weighted["fp"] == 2
    assert weighted["precision"] == pytest.approx(3 / 5)


def test_operating_point_with_nothing_flagged_is_zero_not_nan():
    point = operating_point([0, 1, 0], [0, 0, 0])
    assert point["precision"] == 0.0
    assert point["f1"] == 0.0
    with pytest.raises(ValueError, match="y_pred must hold 0 or 1"):
        operating_point([0, 1], [0.5, 1])
