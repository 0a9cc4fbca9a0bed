"""Optimisers: hand-derived steps, agreement with torch.optim, state dicts, validation."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from bcekit.nn.base import Parameter
from bcekit.optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, RMSProp

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 5))
A = A @ A.T + 5 * np.eye(5)  # symmetric positive definite
B = RNG.standard_normal(5)
C = RNG.standard_normal((3, 2))


def quadratic_grads(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of f(x, W) = ½ xᵀAx − bᵀx + ½·3‖W − C‖²."""
    return A @ x - B, 3.0 * (w - C)


def make_params(dtype=np.float64) -> list[Parameter]:
    rng = np.random.default_rng(1)
    return [
        Parameter(rng.standard_normal(5).astype(dtype), name="x"),
        Parameter(rng.standard_normal((3, 2)).astype(dtype), name="w"),
    ]


def run(opt, params, n_steps):
    """n_steps of the optimiser on the quadratic, returning the values after each step."""
    trace = []
    for _ in range(n_steps):
        opt.zero_grad()
        gx, gw = quadratic_grads(params[0].value, params[1].value)
        params[0].grad += gx
        params[1].grad += gw
        opt.step()
        trace.append([p.value.copy() for p in params])
    return trace


# --- one step by hand ----------------------------------------------------------------------


def test_sgd_plain_and_weight_decay_step_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    p.grad[:] = [0.5, 0.25]
    SGD([p], lr=0.1, weight_decay=0.2).step()
    # θ − η (g + λθ) = [1 − 0.1·(0.5 + 0.2), −2 − 0.1·(0.25 − 0.4)]
    np.testing.assert_allclose(p.value, [0.93, -1.985], rtol=0, atol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad[:] = 2.0
    opt.step()  # b = 2, θ = 1 − 0.2 = 0.8
    np.testing.assert_allclose(p.value, [0.8], atol=1e-15)
    p.grad[:] = 1.0
    opt.step()  # b = 0.9·2 + 1 = 2.8, θ = 0.8 − 0.28 = 0.52
    np.testing.assert_allclose(p.value, [0.52], atol=1e-15)
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], [2.8], atol=1e-15)


def test_sgd_nesterov_two_steps_by_hand():
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    p.grad[:] = 2.0
    opt.step()  # b = 2, d = 2 + 0.5·2 = 3, θ = 1 − 0.3 = 0.7
    np.testing.assert_allclose(p.value, [0.7], atol=1e-15)
    p.grad[:] = -1.0
    opt.step()  # b = 1 − 1 = 0, d = −1 + 0 = −1, θ = 0.7 + 0.1 = 0.8
    np.testing.assert_allclose(p.value, [0.8], atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # m₁ = (1−β₁)g, v₁ = (1−β₂)g²  ⇒  step = η·g / (|g| + ε) after bias correction.
    g = np.array([3.0, -0.5, 1e-3])
    p = Parameter(np.zeros(3))
    p.grad[:] = g
    Adam([p], lr=0.01, eps=1e-8).step()
    np.testing.assert_allclose(p.value, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_adam_two_steps_written_out():
    b1, b2, lr, eps, wd = 0.8, 0.9, 0.05, 1e-6, 0.1
    theta = np.array([0.5, -1.0])
    grads = [np.array([1.0, 2.0]), np.array([-0.5, 0.25])]
    p = Parameter(theta.copy())
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    m = np.zeros(2)
    v = np.zeros(2)
    for t, g in enumerate(grads, start=1):
        p.grad[:] = g
        opt.step()
        g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(p.value, theta, rtol=1e-12)


def test_adamw_decouples_decay_from_the_moments():
    lr, wd = 0.1, 0.5
    p = Parameter(np.array([2.0]))
    p.grad[:] = 0.0
    opt = AdamW([p], lr=lr, weight_decay=wd)
    opt.step()
    # zero gradient: only the decay acts, θ(1 − ηλ); the moments stay zero
    np.testing.assert_allclose(p.value, [2.0 * (1 - lr * wd)], rtol=1e-15)
    assert opt.state[0]["exp_avg"][0] == 0 and opt.state[0]["exp_avg_sq"][0] == 0


def test_rmsprop_two_steps_written_out():
    lr, alpha, eps, mu = 0.01, 0.9, 1e-8, 0.5
    grads = [np.array([1.0, -3.0]), np.array([0.5, 0.5])]
    p = Parameter(np.zeros(2))
    opt = RMSProp([p], lr=lr, alpha=alpha, eps=eps, momentum=mu)
    theta, v, buf = np.zeros(2), np.zeros(2), np.zeros(2)
    for g in grads:
        p.grad[:] = g
        opt.step()
        v = alpha * v + (1 - alpha) * g**2
        buf = mu * buf + g / (np.sqrt(v) + eps)
        theta = theta - lr * buf
        np.testing.assert_allclose(p.value, theta, rtol=1e-12)


def test_adagrad_two_steps_written_out():
    lr, eps, s0 = 0.1, 1e-10, 0.25
    grads = [np.array([1.0, -2.0]), np.array([3.0, 0.0])]
    p = Parameter(np.ones(2))
    opt = Adagrad([p], lr=lr, eps=eps, initial_accumulator_value=s0)
    theta, s = np.ones(2), np.full(2, s0)
    for g in grads:
        p.grad[:] = g
        opt.step()
        s = s + g**2
        theta = theta - lr * g / (np.sqrt(s) + eps)
        np.testing.assert_allclose(p.value, theta, rtol=1e-12)


# --- agreement with torch.optim ------------------------------------------------------------

CONFIGS = [
    (SGD, "SGD", {"lr": 0.05}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 0.1}),
    (Adam, "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    (AdamW, "AdamW", {"lr": 0.1, "weight_decay": 0.1}),
    (AdamW, "AdamW", {"lr": 0.05}),
    (RMSProp, "RMSprop", {"lr": 0.01}),
    (RMSProp, "RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "weight_decay": 0.05}),
    (Adagrad, "Adagrad", {"lr": 0.1}),
    (Adagrad, "Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "weight_decay": 0.02}),
]


@pytest.mark.parametrize(("cls", "torch_name", "kwargs"), CONFIGS)
def test_matches_torch_on_a_quadratic(cls, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    params = make_params()
    ours = run(cls(params, **kwargs), params, 10)

    tparams = [torch.tensor(p, dtype=torch.float64) for p in (q.value for q in make_params())]
    topt = getattr(torch.optim, torch_name)(tparams, **kwargs)
    for step in range(10):
        gx, gw = quadratic_grads(tparams[0].detach().numpy(), tparams[1].detach().numpy())
        tparams[0].grad = torch.from_numpy(gx)
        tparams[1].grad = torch.from_numpy(gw)
        topt.step()
        for mine, theirs in zip(ours[step], tparams, strict=True):
            np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_descends_the_quadratic(name):
    params = make_params()
    opt = OPTIMIZERS[name](params, lr=0.05)

    def f():
        x, w = params[0].value, params[1].value
        return 0.5 * x @ A @ x - B @ x + 1.5 * np.sum((w - C) ** 2)

    start = f()
    run(opt, params, 50)
    assert f() < start - 1.0


@pytest.mark.parametrize(("cls", "kwargs"), [(c, k) for c, _, k in CONFIGS])
def test_float32_stays_float32_and_tracks_float64(cls, kwargs):
    p32, p64 = make_params(np.float32), make_params()
    opt32 = cls(p32, **kwargs)
    run(opt32, p32, 5)
    run(cls(p64, **kwargs), p64, 5)
    for a, b in zip(p32, p64, strict=True):
        assert a.value.dtype == np.float32
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-5)
    for buffers in opt32.state:
        assert all(buf.dtype == np.float32 for buf in buffers.values())


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
        (Adam, {"weight_decay": 0.1}),
        (AdamW, {}),
        (RMSProp, {"momentum": 0.9, "weight_decay": 0.1}),
        (Adagrad, {"weight_decay": 0.1}),
    ],
)
def test_step_allocates_no_parameter_sized_temporaries(cls, kwargs):
    p = Parameter(np.ones(200_000))
    p.grad[:] = 0.5
    opt = cls([p], **kwargs)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.value.nbytes // 10


# --- state dict ----------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "kwargs"), [(c, k) for c, _, k in CONFIGS])
def test_state_dict_resumes_the_same_trajectory(cls, kwargs):
    params = make_params()
    opt = cls(params, **kwargs)
    run(opt, params, 3)
    state = opt.state_dict()
    # the scalars are JSON, the arrays plain ndarrays under "<index>.<buffer>"
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    assert json.loads(json.dumps(scalars)) == scalars
    assert scalars["step"] == 3 and scalars["type"] == cls.__name__
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    assert all(k.split(".", 1)[0] in {"0", "1"} for k in arrays)

    copies = [Parameter(p.value.copy()) for p in params]
    fresh = cls(copies, **kwargs)
    fresh.load_state_dict({**scalars, **{k: v.copy() for k, v in arrays.items()}})
    tail_a = run(opt, params, 4)
    tail_b = run(fresh, copies, 4)
    for a, b in zip(tail_a[-1], tail_b[-1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_arrays_are_copies():
    p = Parameter(np.ones(3))
    p.grad[:] = 1.0
    opt = Adam([p])
    opt.step()
    state = opt.state_dict()
    before = state["0.exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(state["0.exp_avg"], before)


def test_load_state_dict_rejects_mismatches():
    p = Parameter(np.ones(3))
    opt = Adam([p])
    state = opt.state_dict()
    with pytest.raises(ValueError, match="for a Adam optimiser, not SGD"):
        SGD([p], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"missing \['0.exp_avg_sq'\]"):
        opt.load_state_dict({k: v for k, v in state.items() if k != "0.exp_avg_sq"})
    with pytest.raises(ValueError, match=r"state\['0.exp_avg'\] must have shape \(3,\)"):
        opt.load_state_dict({**state, "0.exp_avg": np.zeros(4)})
    with pytest.raises(ValueError, match="step"):
        opt.load_state_dict({**state, "step": -1})


def test_lr_is_settable_and_used():
    p = Parameter(np.zeros(1))
    opt = SGD([p], lr=1.0)
    opt.lr = 0.25
    p.grad[:] = 1.0
    opt.step()
    assert p.value[0] == -0.25
    assert opt.state_dict()["lr"] == 0.25


def test_zero_grad_clears_every_gradient():
    params = make_params()
    for p in params:
        p.grad[...] = 3.0
    SGD(params, lr=0.1).zero_grad()
    assert all(not p.grad.any() for p in params)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda ps: SGD(ps, lr=-1.0), r"lr must be a finite number in \[0, inf\); got -1.0"),
        (lambda ps: SGD(ps, lr=float("nan")), "lr must be a finite number"),
        (lambda ps: SGD(ps, lr=0.1, momentum=1.0), r"momentum .* \[0, 1\); got 1.0"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-0.1), "weight_decay"),
        (lambda ps: Adam(ps, betas=(0.9,)), "betas must be a pair"),
        (lambda ps: Adam(ps, betas=(0.9, 1.0)), r"betas\[1\]"),
        (lambda ps: Adam(ps, eps=0.0), r"eps must be a finite number in \(0, inf\)"),
        (lambda ps: RMSProp(ps, alpha=1.5), "alpha"),
        (lambda ps: Adagrad(ps, initial_accumulator_value=-1.0), "initial_accumulator_value"),
    ],
)
def test_bad_hyperparameters_are_named(factory, message):
    with pytest.raises(ValueError, match=message):
        factory(make_params())


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="at least one parameter"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params must be an iterable"):
        SGD(np.zeros(3), lr=0.1)
    with pytest.raises(TypeError, match=r"params\[0\] must have ndarray attributes"):
        SGD([np.zeros(3)], lr=0.1)
    p = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="floating value"):
        SGD([Parameter(np.zeros(2, dtype=np.int64))], lr=0.1)
    with pytest.raises(TypeError, match="lr must be a real number; got str"):
        SGD([p], lr="0.1")
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=0.1).lr = -0.5
