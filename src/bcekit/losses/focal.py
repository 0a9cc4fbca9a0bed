r"""Sigmoid focal loss on logits, computed in log-space, with its gradient.

The focal loss (Lin et al., "Focal Loss for Dense Object Detection", 2017) scales the binary
cross-entropy down where the prediction is already good:

.. math::
    \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{CE}(z, y),\qquad
    p_t = p\,y + (1-p)(1-y),\qquad \alpha_t = \alpha\,y + (1-\alpha)(1-y),

with ``p = σ(z)``. ``γ = 0`` and ``alpha=None`` give the plain binary cross-entropy. The
factor ``(1 − p_t)^γ`` is ``exp(γ log(1 − p_t))`` with ``log(1 − p_t)`` formed from
log-sigmoids, so value and gradient are finite for every finite logit and any ``γ ≥ 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.losses import _portable
from bcekit.losses._base import (
    Loss,
    ValueAndGrad,
    functional_forms,
    keyword_checks,
    scalar_as_1d,
)
from bcekit.losses._docs import COMMON_PARAMETERS, loss_docs
from bcekit.losses._elementwise import (
    bce_logits_parts,
    saturate,
    set_limits,
    smooth_targets,
)
from bcekit.losses._namespace import with_portable_twin
from bcekit.losses._reduction import reduce, scale_grad
from bcekit.losses._validation import (
    binary_inputs,
    check_label_smoothing,
    check_reduction,
    check_scalar,
)


def _focal_elementwise(
    z: np.ndarray, y: np.ndarray, gamma: float, alpha: float | None, need_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Per-element focal loss on finite logits and its derivative.

    With :math:`q = 1 - p_t = y\,\sigma(-z) + (1-y)\,\sigma(z)` and
    :math:`\operatorname{sp}(x) = \log(1 + e^x)`:

    .. math::
        \log q = \operatorname{logaddexp}\big(\log y - \operatorname{sp}(z),\
                 \log(1-y) - \operatorname{sp}(-z)\big)

        \frac{\partial \ell}{\partial z} = \alpha_t\Big[\gamma\,(1-2y)\,
            q^{\gamma-1}\sigma(z)\sigma(-z)\,\mathrm{CE} + q^\gamma\,(\sigma(z) - y)\Big]

    where :math:`q^{\gamma-1}\sigma(z)\sigma(-z) = \exp((\gamma-1)\log q - \operatorname{sp}(-z)
    - \operatorname{sp}(z)) \le 1` (because :math:`q \ge \sigma(z)\sigma(-z)`), so the term
    stays finite as :math:`q \to 0` even for :math:`\gamma < 1`.
    """
    ce, d_ce, soft = bce_logits_parts(z, y, None, need_grad)  # soft = log(1 + exp(−|z|))
    sp_pos = np.maximum(z, 0.0)
    sp_pos += soft  # sp(z) = −log σ(−z)
    sp_neg = np.minimum(z, 0.0)
    np.subtract(soft, sp_neg, out=sp_neg)  # sp(−z) = −log σ(z)
    alpha_t = None if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)
    # At saturated logits the log-space terms may overflow to −inf, which exp maps to the
    # exact 0; log(0) = −inf for hard targets is likewise intended.
    with np.errstate(divide="ignore", over="ignore"):
        log_q = np.logaddexp(np.log(y) - sp_pos, np.log1p(-y) - sp_neg)
        modulator = np.exp(gamma * log_q)
        loss = modulator * ce
        if alpha_t is not None:
            loss *= alpha_t
        if not need_grad:
            return loss, None
        log_q *= gamma - 1.0
        log_q -= sp_neg
        log_q -= sp_pos
        focus = np.exp(log_q, out=log_q)  # q^(γ−1)·σ(z)·σ(−z)
    focus *= ce
    focus *= gamma * (1.0 - 2.0 * y)
    grad = np.multiply(modulator, d_ce, out=modulator)
    grad += focus
    if alpha_t is not None:
        grad *= alpha_t
    return loss, grad


def _check_gamma(gamma: Any) -> float:
    return check_scalar(gamma, "gamma", 0.0)


def _check_alpha(alpha: Any) -> float | None:
    return None if alpha is None else check_scalar(alpha, "alpha", 0.0, 1.0)


@with_portable_twin(_portable.focal)
@scalar_as_1d
def _focal(
    logits: Any,
    targets: Any,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
    need_grad: bool,
) -> ValueAndGrad:
    """The definition of the focal loss; see :func:`sigmoid_focal_loss`."""
    reduction = check_reduction(reduction)
    s = check_label_smoothing(label_smoothing)
    gamma, alpha = _check_gamma(gamma), _check_alpha(alpha)
    inp = binary_inputs(
        logits, targets, name="logits", allow_inf=True,
        weight=weight, pos_weight=None, mask=mask, reduction=reduction,
    )  # fmt: skip
    y = smooth_targets(inp.targets, s, 2)
    z = saturate(inp.pred) if inp.has_inf else inp.pred
    loss, grad = _focal_elementwise(z, y, gamma, alpha, need_grad)
    if inp.has_inf:
        alpha_t = 1.0 if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)
        set_limits(loss, inp.pred, grows_up=alpha_t * (1.0 - y), grows_down=alpha_t * y)
    value, factor = reduce(
        loss, weight=inp.weight, mask=inp.mask, reduction=reduction, finite=not inp.has_inf
    )
    return value, (None if grad is None else scale_grad(grad, factor))


_FOCAL_PARAMETERS = """
    logits : array-like
        Real-valued scores; ``±inf`` allowed.
    targets : array-like
        Targets in ``[0, 1]`` (soft targets allowed), broadcasting to the logits' shape.
    gamma : float, default 2.0
        Focusing exponent ``γ >= 0``; ``γ = 0`` is the plain cross-entropy.
    alpha : float, optional
        Weight ``α ∈ [0, 1]`` of the positive class (``1 − α`` for the negative one);
        None applies no class factor.
    weight : array-like, optional
        Non-negative per-element weights ``w``, broadcasting to the logits' shape."""

sigmoid_focal_loss, sigmoid_focal_loss_value_and_grad = functional_forms(
    _focal,
    "sigmoid_focal_loss",
    __name__,
    **loss_docs(
        r"""Sigmoid focal loss on logits: ``α_t (1 − p_t)^γ`` times the binary cross-entropy.

    .. math::
        \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{CE}(z, y),\quad
        p_t = \sigma(z)\,y + \sigma(-z)(1-y)

    Finite for every finite logit; at ``z = ±inf`` it takes its limit (0 or +inf).""",
        r""":func:`sigmoid_focal_loss` and its gradient with respect to the logits.

    .. math::
        \frac{\partial \ell}{\partial z} = \alpha_t\Big[\gamma\,(1-2y)\,(1-p_t)^{\gamma-1}
            \sigma(z)\sigma(-z)\,\mathrm{CE} + (1-p_t)^\gamma\,(\sigma(z) - y)\Big],

    evaluated in log-space: finite for every logit (including ``±inf``) and every ``γ >= 0``.""",
        _FOCAL_PARAMETERS + COMMON_PARAMETERS,
    ),
)


class SigmoidFocalLoss(Loss):
    """:func:`sigmoid_focal_loss` with its keywords fixed.

    Parameters
    ----------
    gamma : float, default 2.0
        Focusing exponent ``γ >= 0``.
    alpha : float, optional
        Weight ``α ∈ [0, 1]`` of the positive class; None applies no class factor.
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/2``.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
    """

    _compute = staticmethod(_focal)
    _checks = keyword_checks(
        gamma=_check_gamma,
        alpha=_check_alpha,
        label_smoothing=check_label_smoothing,
        reduction=check_reduction,
    )
