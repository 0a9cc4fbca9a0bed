"""Optimisers, learning-rate schedules and gradient clipping over lists of parameters.

Optimisers (:class:`SGD`, :class:`Adam`, :class:`AdamW`, :class:`RMSProp`,
:class:`Adagrad`) update any objects with ``value`` and ``grad`` arrays in place, following
``torch.optim``'s rules; their state is plain arrays and scalars (``state_dict``). Schedules
set ``optimizer.lr`` per epoch or per batch; :func:`clip_grad_norm` bounds the global
gradient norm. This package knows nothing of layers or losses.
"""

from bcekit.optim.adam import Adam, AdamW
from bcekit.optim.adaptive import Adagrad, RMSProp
from bcekit.optim.base import Optimizer, ParamLike
from bcekit.optim.clipping import clip_grad_norm, grad_norm
from bcekit.optim.optimizers import OPTIMIZERS
from bcekit.optim.schedules import (
    ConstantLR,
    ExponentialLR,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
    WarmupCosineLR,
)
from bcekit.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "ConstantLR",
    "ExponentialLR",
    "Optimizer",
    "ParamLike",
    "RMSProp",
    "ReduceLROnPlateau",
    "Schedule",
    "StepLR",
    "WarmupCosineLR",
    "clip_grad_norm",
    "grad_norm",
]
