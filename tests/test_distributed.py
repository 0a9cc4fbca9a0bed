"""Dask scale-out: losses and the logistic objective over a real LocalCluster on loopback."""

from __future__ import annotations

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from bcekit.distributed import (  # noqa: E402
    DistributedLogisticObjective,
    binary_cross_entropy_with_logits,
    value_and_grad,
)
from bcekit.losses import BinaryCrossEntropyWithLogits  # noqa: E402
from bcekit.losses.linear import logistic_objective  # noqa: E402


@pytest.fixture
def chunked():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=4.0, size=(6000, 3))
    y = (rng.random(z.shape) < 0.3).astype(np.float64)
    w = rng.random(z.shape)
    m = rng.random(z.shape) < 0.8
    return z, y, w, m


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_loss_over_chunks_equals_numpy(dask_client, chunked, reduction, with_weight, with_mask):
    z, y, w, m = chunked
    weight = w if with_weight else None
    mask = m if with_mask else None
    loss = BinaryCrossEntropyWithLogits(pos_weight=2.5, label_smoothing=0.1, reduction=reduction)
    expected_value, expected_grad = loss.value_and_grad(z, y, weight=weight, mask=mask)

    def chunk(a):
        return None if a is None else da.from_array(a, chunks=(1000, 2))

    options = {"pos_weight": 2.5, "label_smoothing": 0.1, "reduction": reduction}
    value, grad = value_and_grad(
        chunk(z), chunk(y), weight=chunk(weight), mask=chunk(mask), **options
    )
    value, grad = dask_client.compute([value, grad], sync=True)
    lazy_value = binary_cross_entropy_with_logits(
        chunk(z), chunk(y), weight=chunk(weight), mask=chunk(mask), **options
    )
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(lazy_value.compute(), expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-300)


def test_loss_rejects_unknown_reduction_and_misaligned_targets(chunked):
    z, y, *_ = chunked
    with pytest.raises(ValueError, match="reduction"):
        binary_cross_entropy_with_logits(da.from_array(z), da.from_array(y), reduction="none")
    with pytest.raises(ValueError, match="targets"):
        binary_cross_entropy_with_logits(da.from_array(z), da.from_array(y[:10]))


def _logistic_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(np.float64)
    return X, y, rng.random(n) + 0.5


def chunked_objective(X, y, rows, *args, **kwargs):
    """The distributed objective over ``X`` and ``y`` in blocks of ``rows`` rows."""
    Xd = da.from_array(X, chunks=(rows, X.shape[1]))
    return DistributedLogisticObjective(Xd, da.from_array(y, chunks=rows), *args, **kwargs)


def assert_equals_kernel(got, X, y, coef, intercept, **options):
    """``got`` is the in-memory kernel's ``(value, ∂/∂coef, ∂/∂intercept)`` up to rounding."""
    expected = logistic_objective(X, y, coef, intercept, **options)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-10)
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-10)


def test_distributed_objective_equals_in_memory(dask_client):
    X, y, sw = _logistic_data(20_000, 7)
    coef = np.linspace(-1, 1, 7)
    objective = chunked_objective(X, y, 3000, sw, pos_weight=1.5)
    got = objective(coef, 0.2)
    assert_equals_kernel(got, X, y, coef, 0.2, sample_weight=sw, pos_weight=1.5)


def test_blocks_on_one_worker_are_spread_and_kept_with_their_targets(dask_client):
    """Blocks all persisted on one worker, and X and y on different ones: the objective
    spreads them evenly and puts each block's X and y together, with the same sums."""
    X, y, _ = _logistic_data(16_000, 4, seed=2)
    first, second = sorted(dask_client.nthreads())
    Xd = dask_client.persist(da.from_array(X, chunks=(2000, 4)), workers=[first])
    yd = dask_client.persist(da.from_array(y, chunks=2000), workers=[second])
    objective = DistributedLogisticObjective(Xd, yd)
    plan = objective._sum.plan
    assert sorted(len(share) for _, share in plan) == [4, 4]
    assert {worker for worker, _ in plan} == {first, second}
    for worker, share in plan:
        futures = [f for i in share for f in objective._sum._blocks[i] if f is not None]
        assert {w for ws in dask_client.who_has(futures).values() for w in ws} == {worker}
    coef = np.array([0.3, -0.2, 0.1, 0.0])
    assert_equals_kernel(objective(coef, 0.1), X, y, coef, 0.1)


def test_a_call_runs_no_task_on_the_cluster(dask_client):
    """Each share's holder answers one message: no task graph per evaluation."""
    X, y, _ = _logistic_data(8_000, 3, seed=3)
    objective = chunked_objective(X, y, 2000)
    coef = np.array([0.5, -0.5, 0.25])
    with distributed.get_task_stream(dask_client) as stream:
        got = objective(coef, 0.1)
    assert stream.data == []
    assert_equals_kernel(got, X, y, coef, 0.1)


def test_large_parameters_are_read_from_the_workers_memory(dask_client):
    """A coefficient vector over the inline limit is broadcast, and each holder reads it
    where it lives; the sums are those of the in-memory kernel."""
    d = 9_000  # 72 kB of float64: more than travels inside the message
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, d))
    y = (rng.random(60) < 0.5).astype(np.float64)
    coef = rng.normal(scale=0.01, size=d)
    assert_equals_kernel(chunked_objective(X, y, 15)(coef, -0.2), X, y, coef, -0.2)


def _lose_a_worker(client):
    """Kill one of the cluster's worker processes (the nanny starts a new one)."""
    victim = next(iter(client.scheduler_info()["workers"]))
    try:
        client.run(os._exit, 1, workers=[victim])
    except Exception:  # the worker dies before it can answer
        pass


def test_lost_worker_does_not_change_the_result(dask_client):
    X, y, _ = _logistic_data(20_000, 5, seed=1)
    objective = chunked_objective(X, y, 2000)
    coef = np.full(5, 0.1)
    before = objective(coef, 0.0)
    _lose_a_worker(dask_client)
    after = objective(coef, 0.0)
    np.testing.assert_allclose(after[0], before[0], rtol=1e-12)
    np.testing.assert_allclose(after[1], before[1], rtol=1e-12)


def test_labels_are_encoded_where_the_blocks_are_held(dask_client):
    """Class labels with ``positive_label``: the targets are ``labels == positive_label``,
    encoded once per block by its holder, and a call still runs no task."""
    X, y, sw = _logistic_data(12_000, 4, seed=5)
    labels = np.where(y == 1.0, "yes", "no").astype(object)
    objective = chunked_objective(X, labels, 2500, sw, positive_label="yes")
    coef = np.array([0.4, -0.3, 0.2, -0.1])
    with distributed.get_task_stream(dask_client) as stream:
        first = objective(coef, 0.1)
        second = objective(coef, 0.1)
    assert stream.data == []
    assert_equals_kernel(first, X, y, coef, 0.1, sample_weight=sw)
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])


def test_lost_worker_with_labels_still_encodes_them(dask_client):
    """After a worker is lost the call runs as tasks, which encode the labels themselves."""
    X, y, _ = _logistic_data(10_000, 3, seed=6)
    objective = chunked_objective(X, y.astype(np.int64) + 3, 2000, positive_label=4)
    coef = np.array([0.2, 0.1, -0.3])
    before = objective(coef, 0.0)
    assert_equals_kernel(before, X, y, coef, 0.0)
    _lose_a_worker(dask_client)
    after = objective(coef, 0.0)
    assert objective._sum._holders == []  # the fallback path ran
    np.testing.assert_allclose(after[0], before[0], rtol=1e-12)
    np.testing.assert_allclose(after[1], before[1], rtol=1e-12)


def test_public_loss_delegates_dask_input_lazily(chunked):
    from bcekit.losses import (
        binary_cross_entropy_with_logits as public,
    )
    from bcekit.losses import (
        binary_cross_entropy_with_logits_value_and_grad as public_value_and_grad,
    )

    z, y, w, _ = chunked
    lazy = public(da.from_array(z, chunks=(1000, 3)), da.from_array(y, chunks=(1000, 3)))
    assert hasattr(lazy, "dask")
    np.testing.assert_allclose(lazy.compute(), public(z, y), rtol=1e-12)
    value, grad = public_value_and_grad(
        da.from_array(z, chunks=(1000, 3)), da.from_array(y, chunks=(1000, 3)), weight=w
    )
    expected = public_value_and_grad(z, y, weight=w)
    np.testing.assert_allclose(value.compute(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad.compute(), expected[1], rtol=1e-12)


def _block_rows(X, y, w):
    """What a block tells of itself: its first row's first value, its row count, the sum of y
    and whether w was given (to check block order and that None reaches the function)."""
    return float(X[0, 0]), len(X), float(y.sum()), w is None


def test_per_block_runs_one_task_per_worker_and_answers_in_block_order(dask_client):
    from bcekit.distributed._graph import per_block

    rng = np.random.default_rng(8)
    X = rng.normal(size=(7_000, 3))
    y = (rng.random(7_000) < 0.5).astype(np.float64)
    Xd, yd = dask_client.persist([da.from_array(X, chunks=(1000, 3)), da.from_array(y, 1000)])
    distributed.wait([Xd, yd])
    with distributed.get_task_stream(dask_client) as stream:
        got = per_block(_block_rows, [Xd, yd, None])
    expected = [(X[i, 0], 1000, y[i : i + 1000].sum(), True) for i in range(0, 7_000, 1000)]
    assert got == expected
    workers = len(dask_client.scheduler_info()["workers"])
    assert 1 <= len([t for t in stream.data if "_each" in t["key"]]) <= workers
