"""BCE with logits over dask arrays: per-chunk fused kernels, tree-summed partials.

Results are **lazy**: the value is a 0-d dask array and the gradient a dask array chunked like
the logits; call ``.compute()`` (or ``dask.compute(value, grad)`` to share one pass).

Each chunk returns three partial sums ``(Σ w·ℓ, number counted, Σ w)``; one task adds them
(``math.fsum``) and finishes the reduction:

    mean          = Σ w·ℓ / n_counted
    weighted_mean = Σ w·ℓ / Σ w
    sum           = Σ w·ℓ
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bcekit.distributed._compat import require_dask
from bcekit.distributed._graph import one_thread
from bcekit.losses import BinaryCrossEntropyWithLogits

_REDUCTIONS = ("mean", "weighted_mean", "sum")


def _split(rest: tuple, has_weight: bool, has_mask: bool) -> tuple[Any, Any, list]:
    """Unpack the optional ``weight`` and ``mask`` blocks that follow logits and targets."""
    rest = list(rest)
    w = rest.pop(0) if has_weight else None
    m = rest.pop(0) if has_mask else None
    return w, m, rest


def _counts(z, w, m) -> tuple[float, float]:
    """``(n counted, Σ w)`` of one chunk."""
    counted = z.size if m is None else np.count_nonzero(m)
    if w is None:
        weight_sum = counted
    else:
        weights = np.broadcast_to(w, z.shape)
        weight_sum = np.sum(weights, where=True if m is None else m, dtype=np.float64)
    return float(counted), float(weight_sum)


def _block_partials(z, y, *rest, loss, has_weight, has_mask) -> tuple[float, float, float]:
    """``(Σ w·ℓ, n counted, Σ w)`` for one chunk."""
    w, m, _ = _split(rest, has_weight, has_mask)
    with one_thread():
        total = loss(z, y, weight=w, mask=m)
    return (float(total), *_counts(z, w, m))


def _block_value_and_grad(z, y, *rest, loss, has_weight, has_mask) -> tuple[tuple, np.ndarray]:
    """``((Σ w·ℓ, n counted, Σ w), ∂(Σ w·ℓ)/∂z)`` for one chunk, the loss evaluated once."""
    w, m, _ = _split(rest, has_weight, has_mask)
    with one_thread():
        total, grad = loss.value_and_grad(z, y, weight=w, mask=m)
    return (float(total), *_counts(z, w, m)), grad


def _scaled(grad: np.ndarray, scale: float) -> np.ndarray:
    """A chunk's gradient of the sum times the reduction's scale."""
    return grad * grad.dtype.type(scale)


def _nested(items: list, shape: tuple[int, ...]) -> Any:
    """``items`` (C order) as nested lists of ``shape``, for :func:`dask.array.block`."""
    if len(shape) <= 1:
        return list(items)
    size = len(items) // shape[0]
    return [_nested(items[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def _aligned(da: Any, x: Any, like: Any, name: str) -> Any:
    if x is None:
        return None
    x = da.asarray(x)
    if x.shape != like.shape:
        raise ValueError(
            f"{name} must have the logits' shape {like.shape} for dask input; got {x.shape}"
        )
    return x.rechunk(like.chunks)


def _operands(logits, targets, weight, mask):
    """Logits, targets and the given optional arrays, chunked alike, plus the presence flags."""
    da = require_dask()
    z = da.asarray(logits)
    y = _aligned(da, targets, z, "targets")
    w = _aligned(da, weight, z, "weight")
    m = _aligned(da, mask, z, "mask")
    flags = {"has_weight": w is not None, "has_mask": m is not None}
    return [z, y, *(a for a in (w, m) if a is not None)], flags


def _partials(operands, flags, loss) -> list[Any]:
    """One delayed ``(Σ w·ℓ, n counted, Σ w)`` per chunk."""
    from dask import delayed

    blocks = zip(*(a.to_delayed().ravel() for a in operands), strict=True)
    return [delayed(_block_partials, pure=False)(*b, loss=loss, **flags) for b in blocks]


def _scale_of(reduction: str, *partials: tuple) -> float:
    """The reduction's factor on Σ w·ℓ: 1, 1/n_counted or 1/Σw (0 when nothing counted)."""
    if reduction == "sum":
        return 1.0
    column = 1 if reduction == "mean" else 2
    denominator = math.fsum(p[column] for p in partials)
    return 1.0 / denominator if denominator > 0 else 0.0


def _value_of(reduction: str, *partials: tuple) -> float:
    """The reduced loss from the chunks' partials (one task, the partials being 3 numbers)."""
    return math.fsum(p[0] for p in partials) * _scale_of(reduction, *partials)


def _lazy_value(parts: list[Any], reduction: str) -> Any:
    """The reduced loss as a 0-d dask array."""
    from dask import delayed

    da = require_dask()
    value = delayed(_value_of, pure=False)(reduction, *parts)
    return da.from_delayed(value, shape=(), dtype=np.float64)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"reduction must be one of {_REDUCTIONS} for dask input; got {reduction!r}"
        )


def _inputs(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: float | None = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
) -> tuple[list[Any], dict[str, bool], BinaryCrossEntropyWithLogits, str]:
    """The arguments of both public functions: operands chunked alike, presence flags, the
    per-chunk loss (a sum) and the reduction."""
    _check_reduction(reduction)
    operands, flags = _operands(logits, targets, weight, mask)
    loss = BinaryCrossEntropyWithLogits(
        pos_weight=pos_weight, label_smoothing=label_smoothing, reduction="sum"
    )
    return operands, flags, loss, reduction


def _public(build: Callable[..., Any]) -> Callable[..., Any]:
    """``build(operands, flags, loss, reduction)`` as a function of the loss's arguments:
    those of :func:`_inputs`, shown as its signature."""

    @functools.wraps(build)
    def public(logits: Any, targets: Any, **options: Any) -> Any:
        return build(*_inputs(logits, targets, **options))

    public.__signature__ = inspect.signature(_inputs).replace(  # type: ignore[attr-defined]
        return_annotation=inspect.signature(build).return_annotation
    )
    return public


@_public
def binary_cross_entropy_with_logits(
    operands: list[Any], flags: dict[str, bool], loss: Any, reduction: str
) -> Any:
    r"""Lazy BCE with logits over dask arrays.

    .. math:: \ell_i = -[pw\,y_i \log\sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))]

    Takes ``(logits, targets, *, weight=None, pos_weight=None, label_smoothing=0.0,
    mask=None, reduction="mean")`` with the semantics of
    :func:`bcekit.losses.binary_cross_entropy_with_logits` (scalar ``pos_weight`` only);
    ``targets``, ``weight`` and ``mask`` must have the logits' shape and are rechunked to
    match. Returns a 0-d dask array.
    """
    return _lazy_value(_partials(operands, flags, loss), reduction)


@_public
def value_and_grad(
    operands: list[Any], flags: dict[str, bool], loss: Any, reduction: str
) -> tuple[Any, Any]:
    """Lazy ``(value, ∂value/∂logits)`` over dask arrays; compute both with ``dask.compute``.

    Takes the arguments of :func:`binary_cross_entropy_with_logits`. Each chunk evaluates the
    loss and its gradient once (one task giving its partials and the gradient of its sum);
    the gradient is scaled by the reduction's factor (``1``, ``1/n_counted`` or ``1/Σw``),
    itself computed from every chunk's partials.
    """
    from dask import delayed

    da = require_dask()
    z = operands[0]
    blocks = zip(*(a.to_delayed().ravel() for a in operands), strict=True)
    tasks = [
        delayed(_block_value_and_grad, pure=False, nout=2)(*b, loss=loss, **flags) for b in blocks
    ]
    parts = [part for part, _ in tasks]
    grads = [grad for _, grad in tasks]
    if reduction != "sum":
        scale = delayed(_scale_of, pure=False)(reduction, *parts)
        grads = [delayed(_scaled, pure=False)(grad, scale) for grad in grads]
    pieces = [
        da.from_delayed(grad, shape=shape, dtype=z.dtype)
        for grad, shape in zip(grads, itertools.product(*z.chunks), strict=True)
    ]
    grad = pieces[0] if z.ndim == 0 else da.block(_nested(pieces, z.numblocks))
    return _lazy_value(parts, reduction), grad
