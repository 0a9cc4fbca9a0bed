"""Learning-rate schedules: values by formula, agreement with torch's schedulers, state."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from bcekit.optim import ConstantLR, ExponentialLR, ReduceLROnPlateau, StepLR, WarmupCosineLR


def torch_lrs(make_scheduler, n, base_lr=0.5):
    """Learning rates a torch scheduler gives for epochs 0..n-1 (stepped once per epoch)."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make_scheduler(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_constant():
    s = ConstantLR(base_lr=0.3)
    assert [s.lr_at(k) for k in (0, 1, 100)] == [0.3, 0.3, 0.3]


def test_step_lr_by_formula_and_against_torch():
    s = StepLR(3, gamma=0.5, base_lr=0.5)
    expected = [0.5 * 0.5 ** (k // 3) for k in range(10)]
    got = [s.lr_at(k) for k in range(10)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    theirs = torch_lrs(lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(got, theirs, rtol=1e-12)


def test_exponential_lr_by_formula_and_against_torch():
    s = ExponentialLR(0.9, base_lr=0.5)
    got = [s.lr_at(k) for k in range(12)]
    np.testing.assert_allclose(got, [0.5 * 0.9**k for k in range(12)], rtol=1e-15)
    theirs = torch_lrs(lambda m, o: m.ExponentialLR(o, gamma=0.9), 12)
    np.testing.assert_allclose(got, theirs, rtol=1e-12)


def test_warmup_cosine_landmarks():
    base, low, w, t = 1.0, 0.1, 4, 14
    s = WarmupCosineLR(w, t, min_lr=low, base_lr=base)
    assert s.interval == "batch"
    # linear warm-up: 1/4, 2/4, 3/4, 4/4 of the base rate
    np.testing.assert_allclose([s.lr_at(k) for k in range(4)], [0.25, 0.5, 0.75, 1.0])
    assert s.lr_at(w) == pytest.approx(base)
    # halfway through the cosine: the mean of base and min
    assert s.lr_at(w + (t - w) // 2) == pytest.approx((base + low) / 2)
    # a quarter of the way through the cosine: base·(1 + cos(π/4))/2
    q = WarmupCosineLR(0, 8, min_lr=0.0, base_lr=2.0)
    assert q.lr_at(2) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert s.lr_at(t) == pytest.approx(low) and s.lr_at(t + 50) == pytest.approx(low)
    after = [s.lr_at(k) for k in range(w, t + 1)]
    assert all(a >= b for a, b in itertools.pairwise(after))


def test_warmup_cosine_without_warmup_matches_torch_cosine():
    s = WarmupCosineLR(0, 10, min_lr=0.05, base_lr=0.5)
    theirs = torch_lrs(lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.05), 11)
    np.testing.assert_allclose([s.lr_at(k) for k in range(11)], theirs, rtol=1e-10)


def test_bind_fills_only_a_missing_base_lr():
    s = StepLR(2)
    with pytest.raises(RuntimeError, match="no base_lr"):
        s.lr_at(0)
    s.bind(0.2)
    s.bind(0.7)  # already bound: unchanged
    assert s.lr_at(0) == 0.2 and s.lr_at(2) == pytest.approx(0.02)
    assert ExponentialLR(0.5, base_lr=0.3).lr_at(0) == 0.3


def test_reduce_on_plateau_against_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.8999, 0.85, 0.86, 0.87, 0.88, 0.9, 0.9, 0.9, 0.84]
    ours = ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02, threshold=1e-3, base_lr=0.1)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=2, min_lr=0.02, threshold=1e-3
    )
    for m in metrics:
        lr = ours.step(m)
        theirs.step(m)
        assert lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert ours.lr == pytest.approx(0.02)  # reached the floor


def test_reduce_on_plateau_rules_by_hand():
    s = ReduceLROnPlateau(factor=0.1, patience=1, threshold=0.0)
    s.bind(1.0)
    assert s.step(5.0) == 1.0  # first value is an improvement over +inf
    assert s.step(5.0) == 1.0  # one bad epoch: not more than patience
    assert s.step(6.0) == pytest.approx(0.1)  # two bad epochs > patience: reduce
    assert s.num_bad_epochs == 0
    assert s.step(4.0) == pytest.approx(0.1) and s.best == 4.0


def test_schedule_state_dicts_round_trip_through_json():
    s = ReduceLROnPlateau(factor=0.5, patience=0, base_lr=0.4)
    for m in (3.0, 2.0, 2.5):
        s.step(m)
    state = json.loads(json.dumps(s.state_dict()))
    t = ReduceLROnPlateau(factor=0.5, patience=0)
    t.load_state_dict(state)
    assert (t.lr, t.best, t.num_bad_epochs, t.base_lr) == (s.lr, s.best, s.num_bad_epochs, 0.4)
    assert t.step(2.7) == s.step(2.7)

    c = WarmupCosineLR(2, 10)
    c.bind(0.3)
    d = WarmupCosineLR(2, 10)
    d.load_state_dict(json.loads(json.dumps(c.state_dict())))
    assert d.lr_at(5) == c.lr_at(5)
    with pytest.raises(ValueError, match="WarmupCosineLR schedule, not StepLR"):
        StepLR(1).load_state_dict(c.state_dict())


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: StepLR(0), "step_size must be a positive integer; got 0"),
        (lambda: StepLR(2, gamma=0.0), "gamma"),
        (lambda: ExponentialLR(-0.5), "gamma"),
        (lambda: ConstantLR(interval="minibatch"), "interval must be one of"),
        (lambda: WarmupCosineLR(5, 5), "total_steps must be greater than warmup_steps"),
        (lambda: WarmupCosineLR(-1, 5), "warmup_steps must be an integer >= 0"),
        (lambda: WarmupCosineLR(0, 5, min_lr=1.0, base_lr=0.5), "min_lr must not exceed"),
        (lambda: ReduceLROnPlateau(factor=1.0), "factor"),
        (lambda: ReduceLROnPlateau(patience=-1), "patience"),
        (lambda: ConstantLR(base_lr=-1.0), "base_lr"),
    ],
)
def test_bad_arguments_are_named(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_steps_and_metrics():
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        ConstantLR(base_lr=0.1).lr_at(-1)
    with pytest.raises(ValueError, match="metric must be a finite number"):
        ReduceLROnPlateau(base_lr=0.1).step(float("nan"))
