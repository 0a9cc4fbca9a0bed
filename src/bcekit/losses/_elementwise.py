"""Element-wise pieces shared by the losses: BCE on logits, label smoothing, logits at ±inf.

:func:`bce_logits_elementwise` is the binary cross-entropy of
:mod:`bcekit.losses.binary` and the cross-entropy factor of :mod:`bcekit.losses.focal`.

Infinite logits are handled in two steps. The formulas are evaluated at the largest finite
logit instead (:func:`saturate`), where every sigmoid has saturated to exactly 0 or 1, so the
gradient there *is* its limit at ±inf. The loss, which may grow without bound, is then set to
its exact limit, 0 or +inf (:func:`set_limits`).
"""

from __future__ import annotations

import numpy as np


def smooth_targets(targets: np.ndarray, label_smoothing: float, n_classes: int) -> np.ndarray:
    """``y·(1 − s) + s/C``: targets moved towards the uniform distribution over ``C`` classes."""
    if label_smoothing == 0.0:
        return targets
    return targets * (1.0 - label_smoothing) + label_smoothing / n_classes


def saturate(logits: np.ndarray) -> np.ndarray:
    """A copy of ``logits`` with ±inf replaced by ± the largest finite value of the dtype."""
    big = np.finfo(logits.dtype).max
    return np.clip(logits, -big, big)


def set_limits(
    loss: np.ndarray, logits: np.ndarray, grows_up: np.ndarray, grows_down: np.ndarray
) -> None:
    """Overwrite ``loss`` at infinite ``logits`` with its limit.

    At ``z = +inf`` the loss tends to +inf where ``grows_up > 0`` and to 0 elsewhere; at
    ``z = −inf`` likewise with ``grows_down``. Both broadcast to ``loss.shape``.
    """
    for end, grows in ((np.inf, grows_up), (-np.inf, grows_down)):
        at_end = logits == end
        if at_end.any():
            limit = np.where(grows > 0, np.inf, 0.0).astype(loss.dtype)
            np.copyto(loss, limit, where=at_end)


def bce_logits_elementwise(
    z: np.ndarray, y: np.ndarray, pw: np.ndarray | None, need_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Per-element BCE on finite logits and its derivative, each a sum of exact terms.

    With :math:`e = \exp(-|z|)` and :math:`\operatorname{relu}(z) = \max(z, 0)`:

    .. math::
        \ell = (1-y)\operatorname{relu}(z) + pw\,y\operatorname{relu}(-z)
               + (1 + (pw-1)\,y)\log(1 + e)

        \frac{\partial \ell}{\partial z} = (1-y)\,\sigma(z) - pw\,y\,\sigma(-z)

    Every term of ``ℓ`` is non-negative, so nothing cancels. The gradient takes ``σ(|z|)`` and
    ``σ(−|z|)`` as ``1/(1+e)`` and ``e/(1+e)``, so for hard targets it keeps full relative
    accuracy: ``σ(z) − 1`` at large ``z`` is ``−e/(1+e)``, not ``1/(1+e) − 1``.
    """
    loss, grad, _ = bce_logits_parts(z, y, pw, need_grad)
    return loss, grad


def bce_logits_parts(
    z: np.ndarray, y: np.ndarray, pw: np.ndarray | None, need_grad: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """:func:`bce_logits_elementwise`, plus the ``log(1 + exp(−|z|))`` it is built on.

    ``softplus(±z) = log(1 + exp(−|z|)) + relu(±z)``, so a caller that also needs the
    log-sigmoids (the focal loss) gets them without a second exp and log1p per element.
    """
    nonneg = z >= 0
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    soft = np.log1p(e)
    one_minus_y = 1.0 - y
    pw_y = y if pw is None else pw * y
    # Coefficient of z in the relu terms: (1 − y) where z >= 0, −pw·y where z < 0.
    linear = np.where(nonneg, one_minus_y, -pw_y)
    grad = None
    if need_grad:
        # (1−y)σ(z) − pw·y·σ(−z) = (linear + other·e) / (1 + e), other = the opposite branch.
        grad = np.where(nonneg, -pw_y, one_minus_y)
        grad *= e
        grad += linear
        e += 1.0
        grad /= e
    with np.errstate(over="ignore"):
        linear *= z
    loss = linear
    loss += soft if pw is None else soft * (1.0 + (pw - 1.0) * y)
    return loss, grad, soft
