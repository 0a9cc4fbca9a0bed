r"""Binary cross-entropy on probabilities and on logits, with its gradient.

For a prediction ``p`` of the probability that the target is 1 and a (possibly soft) target
``y ∈ [0, 1]``, the per-element loss with positive weight ``pw`` is

.. math:: \ell = -\left[pw\, y \log p + (1 - y) \log(1 - p)\right].

On logits ``z`` with ``p = σ(z)`` the same loss is evaluated without forming ``p``, stably for
every finite ``z`` and with its limits at ``±inf``; its gradient is the famous ``σ(z) − y``
(with ``pw = 1``). Models should output logits and use
:func:`binary_cross_entropy_with_logits`; :func:`binary_cross_entropy` is for callers who
hold probabilities already.

Each loss is defined once (:func:`bcekit.losses._logits.logits_value_and_grad`,
:func:`bcekit.losses._probs.probs_value_and_grad`); its function returning the value, its
``*_value_and_grad`` function returning ``(value, ∂value/∂pred)`` and its class configured
once and called per batch are made from that definition (:mod:`bcekit.losses._base`).
Weights, masks and reductions are described in :mod:`bcekit.losses._reduction`.
"""

from __future__ import annotations

from bcekit.losses import _portable
from bcekit.losses._base import Loss, functional_forms, keyword_checks
from bcekit.losses._docs import COMMON_PARAMETERS, loss_docs
from bcekit.losses._logits import logits_value_and_grad
from bcekit.losses._namespace import with_portable_twin
from bcekit.losses._probs import probs_value_and_grad
from bcekit.losses._validation import check_label_smoothing, check_nonnegative, check_reduction

# One definition per loss, for NumPy input, with its portable twin for other array libraries.
_with_logits = with_portable_twin(_portable.bce_logits)(logits_value_and_grad)
_with_probs = with_portable_twin(_portable.bce_probs)(probs_value_and_grad)


_BINARY_PARAMETERS = """
    targets : array-like
        Targets in ``[0, 1]`` (soft targets allowed), broadcasting to the predictions' shape.
    weight : array-like, optional
        Non-negative per-element weights ``w``, broadcasting to the predictions' shape.
    pos_weight : float or array-like, optional
        Non-negative weight ``pw`` of the positive term: a scalar, a per-class vector along
        the last axis, or any array broadcasting to the predictions' shape."""
_LOGITS = """
    logits : array-like
        Real-valued scores; ``±inf`` allowed."""
_PROBS = """
    probs : array-like
        Probabilities in ``[0, 1]``."""

binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_value_and_grad = (
    functional_forms(
        _with_logits,
        "binary_cross_entropy_with_logits",
        __name__,
        **loss_docs(
            r"""Binary cross-entropy on logits ``z``, exact for every finite ``z`` and at ``±inf``.

    .. math::
        \ell = -\left[pw\,y\log\sigma(z) + (1-y)\log(1-\sigma(z))\right]
             = (1-y)\,z + (1 + (pw-1)\,y)\log(1 + e^{-z})

    evaluated as a sum of non-negative terms; at ``z = ±inf`` it takes its limit (0 or +inf).
    A fused Numba kernel computes it in one pass over memory unless ``pos_weight`` varies
    across elements (then NumPy does).""",
            r""":func:`binary_cross_entropy_with_logits` and its gradient with respect to logits.

    .. math::
        \frac{\partial \ell}{\partial z} = (1-y)\,\sigma(z) - pw\,y\,\sigma(-z)
        \quad (= \sigma(z) - y \text{ for } pw = 1),

    finite everywhere, with ``σ(+inf) = 1`` and ``σ(−inf) = 0``.""",
            _LOGITS + _BINARY_PARAMETERS + COMMON_PARAMETERS,
        ),
    )
)

binary_cross_entropy, binary_cross_entropy_value_and_grad = functional_forms(
    _with_probs,
    "binary_cross_entropy",
    __name__,
    **loss_docs(
        r"""Binary cross-entropy on probabilities, with PyTorch's clamp of the logarithms.

    .. math::
        \ell = -\left[pw\,y\,\max(\log p, -100) + (1-y)\max(\log(1-p), -100)\right]

    The clamp keeps the loss finite (at most 100·max(pw, 1)) at ``p ∈ {0, 1}``, where it
    equals PyTorch's ``binary_cross_entropy``. Prefer
    :func:`binary_cross_entropy_with_logits` when logits are available.""",
        r""":func:`binary_cross_entropy` and its gradient with respect to the probabilities.

    .. math::
        \frac{\partial \ell}{\partial p}
            = \frac{(p - y) - (pw - 1)\,y\,(1 - p)}{\max(p(1-p),\ 10^{-12})}

    This is the derivative of the unclamped loss with the denominator floored as in PyTorch's
    backward: finite everywhere, and at ``p ∈ {0, 1}`` equal to ``10^{12}`` times the
    numerator (e.g. ``−10^{12}`` for ``p = 0, y = 1``; 0 where ``p = y``).""",
        _PROBS + _BINARY_PARAMETERS + COMMON_PARAMETERS,
    ),
)

_CHECKS = keyword_checks(
    pos_weight=lambda pos_weight: check_nonnegative(pos_weight, "pos_weight"),
    label_smoothing=check_label_smoothing,
    reduction=check_reduction,
)
_CLASS_PARAMETERS = """
    Parameters
    ----------
    pos_weight : float or array-like, optional
        Weight of the positive term (scalar, per-class vector, or broadcasting array).
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/2``.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
"""


class BinaryCrossEntropyWithLogits(Loss):
    __doc__ = f""":func:`binary_cross_entropy_with_logits` with its keywords fixed.
{_CLASS_PARAMETERS}
    Examples
    --------
    >>> loss = BinaryCrossEntropyWithLogits(reduction="sum")
    >>> value, grad = loss.value_and_grad([0.0, 2.0], [1.0, 0.0])
    """

    _compute = staticmethod(_with_logits)
    _checks = _CHECKS


class BinaryCrossEntropy(Loss):
    __doc__ = f""":func:`binary_cross_entropy` (on probabilities) with its keywords fixed.
{_CLASS_PARAMETERS}"""

    _compute = staticmethod(_with_probs)
    _checks = _CHECKS
