"""Every optimiser by name.

The optimisers live one family per module (:mod:`bcekit.optim.base`, :mod:`bcekit.optim.sgd`,
:mod:`bcekit.optim.adam`, :mod:`bcekit.optim.adaptive`); importing them from here keeps
working.
"""

from __future__ import annotations

from bcekit.optim.adam import Adam, AdamW
from bcekit.optim.adaptive import Adagrad, RMSProp
from bcekit.optim.base import Optimizer
from bcekit.optim.sgd import SGD

__all__ = ["OPTIMIZERS"]

#: Optimiser classes by lower-case name, for estimators' ``solver`` and the command line.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSProp,
    "adagrad": Adagrad,
}
