"""Each loss's function, ``*_value_and_grad`` twin and class are made from one definition."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from bcekit import losses
from bcekit.losses import segmentation

FORMS = [  # (value function, value-and-gradient function, class, keywords the class fixes)
    (losses.binary_cross_entropy_with_logits, losses.BinaryCrossEntropyWithLogits,
     {"pos_weight": 2.0, "label_smoothing": 0.1, "reduction": "sum"}),
    (losses.binary_cross_entropy, losses.BinaryCrossEntropy,
     {"pos_weight": 0.5, "label_smoothing": 0.2, "reduction": "mean"}),
    (losses.sigmoid_focal_loss, losses.SigmoidFocalLoss,
     {"gamma": 1.5, "alpha": 0.25, "label_smoothing": 0.0, "reduction": "weighted_mean"}),
    (losses.softmax_cross_entropy, losses.SoftmaxCrossEntropy,
     {"label_smoothing": 0.1, "reduction": "sum", "axis": 0}),
    (segmentation.pixel_bce_with_logits, segmentation.PixelBCEWithLogits,
     {"pos_weight": 3.0, "ignore_value": 255, "reduction": "sum"}),
    (segmentation.soft_dice_loss, segmentation.SoftDiceLoss,
     {"smooth": 0.5, "ignore_value": None, "reduction": "none"}),
    (segmentation.bce_dice_loss, segmentation.BCEDiceLoss,
     {"bce_weight": 0.5, "dice_weight": 2.0, "pos_weight": 1.5, "smooth": 1.0,
      "ignore_value": 255}),
]  # fmt: skip
IDS = [value.__name__ for value, _, _ in FORMS]


def _twin(value):
    return getattr(inspect.getmodule(value), f"{value.__name__}_value_and_grad")


def _inputs(value):
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, (4, 3, 3))
    if value is losses.softmax_cross_entropy:
        y = np.eye(4)[rng.integers(0, 4, (3, 3))].transpose(2, 0, 1)
    else:
        y = (rng.random(z.shape) < 0.5).astype(float)
    if value is losses.binary_cross_entropy:
        z = 1.0 / (1.0 + np.exp(-z))
    return z, y


@pytest.mark.parametrize(("value", "cls", "config"), FORMS, ids=IDS)
def test_the_three_forms_agree(value, cls, config):
    z, y = _inputs(value)
    weight = np.linspace(0.5, 1.5, 9).reshape(3, 3) if "axis" in config else None
    loss = cls(**config)
    expected_value, expected_grad = _twin(value)(z, y, weight=weight, **config)
    np.testing.assert_array_equal(value(z, y, weight=weight, **config), expected_value)
    np.testing.assert_array_equal(loss(z, y, weight=weight), expected_value)
    got_value, got_grad = loss.value_and_grad(z, y, weight=weight)
    np.testing.assert_array_equal(got_value, expected_value)
    np.testing.assert_array_equal(got_grad, expected_grad)
    assert repr(loss) == f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


@pytest.mark.parametrize(("value", "cls", "config"), FORMS, ids=IDS)
def test_signatures_come_from_the_definition(value, cls, config):
    twin = _twin(value)
    params = inspect.signature(value).parameters
    assert inspect.signature(twin).parameters == params
    assert list(params)[2:] == [
        p for p in params if params[p].kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert "need_grad" not in params and "out" not in params
    assert list(inspect.signature(cls).parameters) == list(config)
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert vars(cls()) == {k: v for k, v in defaults.items()}
    for func in (value, twin):
        assert func.__module__ == cls.__module__ and "math:" in func.__doc__
        assert "Parameters\n    ----------" in func.__doc__ and "Raises" in func.__doc__


@pytest.mark.parametrize(("value", "cls", "config"), FORMS, ids=IDS)
def test_arguments_by_keyword_and_unknown_keywords(value, cls, config):
    z, y = _inputs(value)
    first = next(iter(inspect.signature(value).parameters))
    by_keyword = value(**{first: z, "targets": y}, **config)
    np.testing.assert_array_equal(by_keyword, value(z, y, **config))
    with pytest.raises(TypeError, match="unexpected keyword argument 'weights'"):
        cls(weights=1.0)
    with pytest.raises(TypeError):
        cls(*config.values())  # keywords only
