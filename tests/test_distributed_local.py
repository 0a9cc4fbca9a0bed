"""The distributed logistic objective without a distributed Client: Dask's local scheduler."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from bcekit.distributed import DistributedLogisticObjective  # noqa: E402
from bcekit.distributed._graph import active_client  # noqa: E402
from bcekit.losses.linear import logistic_objective  # noqa: E402


def test_labels_are_encoded_on_the_local_scheduler():
    assert active_client() is None
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9_000, 3))
    y = (rng.random(9_000) < 0.4).astype(np.float64)
    labels = np.where(y == 1.0, "spam", "ham").astype(object)
    objective = DistributedLogisticObjective(
        da.from_array(X, chunks=(2000, 3)),
        da.from_array(labels, chunks=2000),
        positive_label="spam",
    )
    coef = np.array([0.3, -0.6, 0.1])
    value, grad, grad_b = objective(coef, -0.2)
    expected = logistic_objective(X, y, coef, -0.2)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-10)
    np.testing.assert_allclose(grad_b, expected[2], rtol=1e-10)


def test_per_block_on_the_local_scheduler_answers_in_block_order():
    from bcekit.distributed._graph import per_block

    assert active_client() is None
    X = np.arange(50.0).reshape(25, 2)
    y = np.arange(25.0)
    got = per_block(lambda Xb, yb, w: (Xb[0, 0], yb.sum(), w), [
        da.from_array(X, chunks=(10, 2)), da.from_array(y, chunks=10), None,
    ])  # fmt: skip
    assert got == [(0.0, 45.0, None), (20.0, 145.0, None), (40.0, 110.0, None)]
