"""Binary cross-entropy and its relatives: values and gradients, validated and stable.

Functions return the loss value; their ``*_value_and_grad`` twins return
``(value, ∂value/∂pred)``; the classes fix the loss's own keywords once and are called per
batch (``loss(pred, targets, weight=..., mask=...)`` and ``loss.value_and_grad(...)``).

========================================  =========================================
:func:`binary_cross_entropy_with_logits`  BCE on logits (what models should use)
:func:`binary_cross_entropy`              BCE on probabilities, clamped like PyTorch
:func:`sigmoid_focal_loss`                focal loss on logits, in log-space
:func:`softmax_cross_entropy`             cross-entropy over ``C`` classes
========================================  =========================================
"""

from bcekit.losses.binary import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    binary_cross_entropy,
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
)
from bcekit.losses.focal import (
    SigmoidFocalLoss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_value_and_grad,
)
from bcekit.losses.softmax import (
    SoftmaxCrossEntropy,
    softmax_cross_entropy,
    softmax_cross_entropy_value_and_grad,
)

__all__ = [
    "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "binary_cross_entropy",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_value_and_grad",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_value_and_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_value_and_grad",
]
