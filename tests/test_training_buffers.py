"""The training loop clears a packed gradient buffer as it clears the per-layer gradients."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import mlp, pack_parameters
from bcekit.optim import Adam
from bcekit.training import Trainer
from bcekit.training._numerics import gradient_buffers


def _train(packed: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (rng.random(200) < expit(X @ [1.0, -2.0, 0.5, 0.0])).astype(float).reshape(-1, 1)
    model = mlp(4, [5], 1, random_state=0)
    params = [pack_parameters(model)] if packed else model.parameters()
    if packed:
        assert len(gradient_buffers(model.parameters(), params)) == 1
    trainer = Trainer(
        model,
        BinaryCrossEntropyWithLogits(reduction="weighted_mean"),
        Adam(params, lr=0.05),
        batch_size=32,
        max_epochs=3,
        random_state=0,
    )
    trainer.fit(X, y)
    return model.state_dict()


def test_packed_and_per_layer_parameters_train_alike():
    packed, separate = _train(True), _train(False)
    assert packed.keys() == separate.keys()
    for name in packed:
        np.testing.assert_array_equal(packed[name], separate[name])


def test_gradients_outside_the_optimiser_are_cleared_one_by_one():
    model = mlp(3, [2], 1, random_state=0)
    grads = gradient_buffers(model.parameters(), model.parameters()[:1])
    assert len(grads) == len(model.parameters())
    assert all(g is p.grad for g, p in zip(grads, model.parameters(), strict=True))
