"""Layers with explicit forward and backward passes, Sequential, initialisers, gradcheck.

Each layer's ``forward(x)`` keeps what its ``backward(grad_out)`` needs; ``backward``
accumulates parameter gradients into ``Parameter.grad`` and returns ``∂L/∂x``. Models
return logits; losses live in :mod:`bcekit.losses`, optimisers in :mod:`bcekit.optim`.
"""

from bcekit.nn import init
from bcekit.nn.activations import (
    ACTIVATIONS,
    GELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    get_activation,
)
from bcekit.nn.base import Layer, Parameter, pack_parameters
from bcekit.nn.conv import Conv2D
from bcekit.nn.dense import Dense
from bcekit.nn.gradcheck import GradcheckError, gradcheck, gradcheck_model, numerical_gradient
from bcekit.nn.memory import NetworkTooLargeError
from bcekit.nn.merge import Concatenate
from bcekit.nn.normalization import BatchNorm
from bcekit.nn.pool import MaxPool2D
from bcekit.nn.regularization import Dropout
from bcekit.nn.sequential import Sequential, mlp
from bcekit.nn.shape import Flatten
from bcekit.nn.unet import UNet
from bcekit.nn.upsample import Upsample2D

__all__ = [
    "ACTIVATIONS",
    "GELU",
    "BatchNorm",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GradcheckError",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "NetworkTooLargeError",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "UNet",
    "Upsample2D",
    "get_activation",
    "gradcheck",
    "gradcheck_model",
    "init",
    "mlp",
    "numerical_gradient",
    "pack_parameters",
]
