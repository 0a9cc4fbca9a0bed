"""What the training tests share: the loss they train on and a short way to build a Trainer."""

from __future__ import annotations

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.optim import SGD
from bcekit.training import Trainer


def bce(reduction: str = "weighted_mean") -> BinaryCrossEntropyWithLogits:
    """The BCE-with-logits loss the Trainer accepts (``reduction`` may be set to test refusals)."""
    return BinaryCrossEntropyWithLogits(reduction=reduction)


def bce_trainer(model, lr: float = 0.1, optimizer=SGD, loss=None, **kwargs) -> Trainer:
    """``Trainer(model, loss, optimizer(model.parameters(), lr=lr), **kwargs)``; loss: ``bce()``."""
    loss = bce() if loss is None else loss
    return Trainer(model, loss, optimizer(model.parameters(), lr=lr), **kwargs)
