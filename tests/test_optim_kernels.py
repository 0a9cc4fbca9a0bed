"""The compiled Adam loop gives the same bits as the NumPy update it stands in for."""

from __future__ import annotations

import numba  # noqa: F401 - loaded, as the BCE kernels load it: Adam then uses its loop
import numpy as np
import pytest

from bcekit.nn.base import Parameter
from bcekit.optim import Adam, AdamW
from bcekit.optim import adam as adam_module


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (Adam, {}),
        (Adam, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
        (AdamW, {"weight_decay": 0.1}),
    ],
)
def test_compiled_adam_equals_numpy_bit_for_bit(monkeypatch, dtype, cls, options):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((40, 25)).astype(dtype)
    compiled, plain = Parameter(start.copy()), Parameter(start.copy())
    opt_compiled = cls([compiled], lr=0.01, **options)
    opt_plain = cls([plain], lr=0.01, **options)
    state = opt_compiled.state[0]
    assert adam_module._compiled_adam(compiled.value, compiled.grad, *state.values()) is not None
    for _ in range(15):
        # Gradients over many magnitudes, zeros included, exercise every rounding step.
        g = rng.standard_normal(start.shape) * 10.0 ** rng.integers(-8, 4, start.shape)
        g[rng.random(start.shape) < 0.1] = 0.0
        compiled.grad[...] = g
        plain.grad[...] = g
        opt_compiled.step()
        with monkeypatch.context() as m:
            m.setattr(adam_module, "_compiled_adam", lambda *arrays: None)
            opt_plain.step()
    np.testing.assert_array_equal(compiled.value, plain.value)
    for name in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(opt_compiled.state[0][name], opt_plain.state[0][name])
    assert not np.array_equal(compiled.value, start)


def test_strided_parameters_take_the_numpy_update():
    base = np.zeros((6, 4))
    p = Parameter(base[:, ::2])
    assert not p.value.flags.c_contiguous
    assert adam_module._compiled_adam(p.value, p.grad, p.value, p.grad) is None
    p.grad[...] = 1.0
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.value, -0.1, rtol=1e-6)
