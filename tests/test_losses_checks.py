"""The one-pass input checks accept exactly what an element-by-element reading accepts.

The checks on the training path read bit patterns, sums and single extrema instead of testing
every element; here they are held against plain element-wise oracles, for special values at
every position, in both float types, below and above the size where the one-pass sum starts.
"""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import _validation as validation
from bcekit.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits_value_and_grad,
    sigmoid_focal_loss,
)

pytestmark = pytest.mark.filterwarnings("error")

DTYPES = [np.float32, np.float64]
LARGE = validation._ONE_PASS_MIN_SIZE + 5
SPECIAL = {
    "nan": np.nan,
    "-nan": -np.nan,
    "+inf": np.inf,
    "-inf": -np.inf,
    "-0": -0.0,
    "negative": -1e-30,
    "tiny negative": -1e-45,
    "subnormal": 1e-41,
    "just above one": None,  # nextafter(1, 2) in the array's dtype
    "one": 1.0,
    "huge": None,  # the largest finite value of the dtype
}


def _with(value_name, dtype, n, position):
    arr = np.random.default_rng(position).uniform(0.0, 1.0, n).astype(dtype)
    value = SPECIAL[value_name]
    if value_name == "just above one":
        value = np.nextafter(dtype(1), dtype(2))
    elif value_name == "huge":
        value = np.finfo(dtype).max
    arr[position] = value
    return arr


def _case_list():
    for dtype in DTYPES:
        for n in (1, 7, 300, LARGE):
            for position in sorted({0, n // 2, n - 1}):
                for value_name in SPECIAL:
                    yield pytest.param(
                        value_name,
                        dtype,
                        n,
                        position,
                        id=f"{value_name}-{dtype.__name__}-{n}-{position}",
                    )


CASES = list(_case_list())


def _raises(fn):
    try:
        fn()
    except ValueError as error:
        return str(error)
    return None


@pytest.mark.parametrize(("value_name", "dtype", "n", "position"), CASES)
def test_bounded_checks_match_the_element_wise_rule(value_name, dtype, n, position):
    arr = _with(value_name, dtype, n, position)
    with np.errstate(invalid="ignore"):
        in_unit = bool(np.all((arr >= 0) & (arr <= 1)))
        non_negative_finite = bool(np.all(np.isfinite(arr) & (arr >= 0)))
    assert validation._within(arr, 1.0) is (in_unit and not np.signbit(arr).any())
    unit = _raises(lambda: validation._check_values(arr, "targets", 0.0, 1.0, False))
    assert (unit is None) == in_unit, unit
    weights = _raises(lambda: validation._check_values(arr, "weight", 0.0, None, False))
    assert (weights is None) == non_negative_finite, weights


@pytest.mark.parametrize(("value_name", "dtype", "n", "position"), CASES)
def test_unbounded_checks_match_the_element_wise_rule(value_name, dtype, n, position):
    arr = _with(value_name, dtype, n, position)
    has_nan = bool(np.isnan(arr).any())
    message = _raises(lambda: validation._check_values(arr, "logits", None, None, True))
    assert (message is not None) == has_nan
    if not has_nan:
        assert validation._check_values(arr, "logits", None, None, True) == bool(
            np.isinf(arr).any()
        )
    assert (_raises(lambda: validation.check_no_nan(arr, "logits")) is not None) == has_nan


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sum_that_overflows_is_not_mistaken_for_an_infinity(dtype):
    big = np.full(LARGE, np.finfo(dtype).max / 4, dtype=dtype)
    big[1::2] *= -1
    big[2::4] = np.finfo(dtype).max  # the running sum overflows, no element is infinite
    assert validation._check_values(big, "logits", None, None, True) is False
    value = sigmoid_focal_loss(big, np.zeros(LARGE, dtype), gamma=0.0, reduction="sum")
    # The losses are the positive logits; their float64 sum overflows only for float64 input.
    expected = np.inf if dtype == np.float64 else np.sum(big[big > 0], dtype=np.float64)
    assert value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [5, LARGE])
def test_messages_name_the_argument_after_a_failed_fast_check(dtype, n):
    z = np.zeros(n, dtype)
    y = np.full(n, 0.5, dtype)
    bad = y.copy()
    bad[-1] = -0.5
    with pytest.raises(
        ValueError, match=r"targets must lie in \[0, 1\]; got values in \[-0.5, 0.5\]"
    ):
        binary_cross_entropy_with_logits_value_and_grad(z, bad)
    w = np.ones(n, dtype)
    w[0] = np.inf
    with pytest.raises(ValueError, match=r"weight must be finite; got values in \[1, inf\]"):
        binary_cross_entropy_with_logits_value_and_grad(z, y, weight=w)
    nan_z = z.copy()
    nan_z[n // 2] = np.nan
    with pytest.raises(ValueError, match="logits must not contain NaN; got 1 NaN values"):
        binary_cross_entropy_with_logits_value_and_grad(nan_z, y)
    p = np.full(n, 0.5, dtype)
    p[-1] = np.nextafter(dtype(1), dtype(2))
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\]"):
        binary_cross_entropy(p, y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_zero_is_a_valid_target_and_weight(dtype):
    z = np.array([0.3, -2.0], dtype)
    y = np.array([-0.0, 1.0], dtype)
    w = np.array([-0.0, 2.0], dtype)
    value, grad = binary_cross_entropy_with_logits_value_and_grad(z, y, weight=w, reduction="sum")
    # Only the second element counts: 2·softplus(2).
    assert value == pytest.approx(2.0 * np.log1p(np.exp(2.0)), rel=1e-6)
    assert grad[0] == 0.0


def test_python_numbers_as_pos_weight():
    z = np.array([1.0, -1.0], np.float32)
    y = np.array([1.0, 0.0], np.float32)
    as_int = binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=3)
    as_float = binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=3.0)
    as_array = binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=np.array(3.0))
    assert as_int[0] == as_float[0] == as_array[0]
    # 1e39 is finite as a Python float but not in the logits' float32.
    with pytest.raises(ValueError, match=r"pos_weight must be finite; got values in \[inf, inf\]"):
        binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=1e39)
    with pytest.raises(ValueError, match="pos_weight must not contain NaN"):
        binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=float("nan"))
    with pytest.raises(ValueError, match="pos_weight must be >= 0"):
        binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=-1)


def test_label_smoothing_checks_every_kind_of_number():
    z, y = np.zeros(3), np.ones(3)
    for s in (float("nan"), 1.0, -0.1, np.float32(1.0)):
        with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\)"):
            binary_cross_entropy_with_logits_value_and_grad(z, y, label_smoothing=s)
    with pytest.raises(ValueError, match="label_smoothing must be a real number"):
        binary_cross_entropy_with_logits_value_and_grad(z, y, label_smoothing=True)


def test_the_fast_path_takes_arrays_that_need_nothing_done():
    z = np.zeros((4, 2))
    assert validation._plain(z, np.ones((4, 2)), None)
    assert validation._plain(z, np.ones((4, 2)), np.ones((4, 2)))
    assert not validation._plain(z, np.ones((4, 2), np.float32), None)  # to convert
    assert not validation._plain(z, np.ones(2), None)  # to broadcast
    assert not validation._plain(z, [[1.0, 0.0]] * 4, None)  # a list
    assert not validation._plain(z.astype(np.float16), np.ones((4, 2), np.float16), None)
    assert not validation._plain(np.zeros(3, int), np.zeros(3, int), None)


@pytest.mark.parametrize("value_name", list(SPECIAL))
@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_objective_checks_match_the_element_wise_rule(value_name, dtype):
    from bcekit.losses.linear import logistic_objective

    n = 9
    arr = _with(value_name, dtype, n, 4)
    with np.errstate(invalid="ignore"):
        in_unit = bool(np.all((arr >= 0) & (arr <= 1)))
        non_negative_finite = bool(np.all(np.isfinite(arr) & (arr >= 0)))
    X = np.random.default_rng(5).normal(size=(n, 2)).astype(dtype)
    coef, y = np.zeros(2, dtype), np.full(n, 0.5, dtype)
    as_y = _raises(lambda: logistic_objective(X, arr, coef, 0.0))
    assert (as_y is None) == in_unit, as_y
    if as_y is not None:
        assert as_y.startswith("y must ")
    as_weight = _raises(lambda: logistic_objective(X, y, coef, 0.0, sample_weight=arr))
    assert (as_weight is None) == non_negative_finite, as_weight
    if as_weight is not None:
        assert as_weight.startswith("sample_weight must be finite and >= 0; got values in ")
