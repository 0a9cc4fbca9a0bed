"""The per-block summary of dask training data: labels, weight totals, finiteness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bcekit.distributed._blocks import all_finite, block_summary, labels_and_totals


def reference(y, w):
    labels, ids = np.unique(y, return_inverse=True)
    return labels, np.bincount(ids.ravel(), weights=w, minlength=len(labels))


@settings(max_examples=60, deadline=None)
@given(
    y=st.one_of(
        hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(-5, 5)),
        hnp.arrays(np.float64, st.integers(1, 40), elements=st.sampled_from([0.0, 1.0, 3.0])),
        hnp.arrays(np.float64, st.integers(1, 40), elements=st.sampled_from([0.5, 2.0, -1.25])),
        hnp.arrays(np.uint8, st.integers(1, 40)),
        hnp.arrays(np.int64, st.integers(1, 40), elements=st.sampled_from([-(2**62), 2**62])),
    ),
    weighted=st.booleans(),
)
def test_labels_and_totals_equal_numpy_unique(y, weighted):
    w = np.linspace(0.0, 2.0, y.size) if weighted else None
    labels, totals = labels_and_totals(y, w)
    expected_labels, expected_totals = reference(y, w)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels.dtype == y.dtype
    np.testing.assert_allclose(totals, expected_totals, rtol=1e-12)


def test_labels_with_zero_weight_are_still_present():
    labels, totals = labels_and_totals(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(labels, [0.0, 1.0])
    np.testing.assert_array_equal(totals, [0.0, 3.0])


def test_strings_and_nan_labels_take_the_sorting_path():
    labels, totals = labels_and_totals(np.array(["b", "a", "b"], dtype=object), None)
    assert list(labels) == ["a", "b"] and list(totals) == [1, 2]
    labels, _ = labels_and_totals(np.array([1.0, np.nan, 1.0]), None)
    assert labels.size == 2 and np.isnan(labels[-1])


@pytest.mark.parametrize(
    ("value", "finite"), [(1.0, True), (np.nan, False), (np.inf, False), (1e308, True)]
)
def test_finiteness_check_sees_every_element(value, finite):
    X = np.ones((50, 3))
    X[17, 2] = value
    X[3, 1] = 1e308  # with the 1e308 case the sum overflows although every element is finite
    assert all_finite(X) is finite
    assert block_summary(X, np.zeros(50), None)["X_finite"] is finite
