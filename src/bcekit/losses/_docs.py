"""Docstring sections shared by the public loss functions, joined by :func:`loss_docs`."""

from __future__ import annotations

COMMON_PARAMETERS = """
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/C`` (``C = 2`` for binary losses).
    mask : array-like of bool, optional
        True where an element counts. Masked elements add nothing to the value or gradient
        and are not counted in the mean; with nothing counted the value is 0.0.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
        ``Σ w·ℓ`` over counted elements divided by their number (``"mean"``), by ``Σ w``
        over them (``"weighted_mean"``), or by 1 (``"sum"``); ``"none"`` returns the array
        ``w·ℓ`` with zeros where masked."""

VALUE_RETURNS = """

    Returns
    -------
    value : float or ndarray
        A Python float (summed in float64), or for ``reduction="none"`` an array of the
        losses' shape in the working dtype: float32 for float16/float32 predictions, float64
        for float64, integer or boolean ones. For arrays of another Array API library
        (PyTorch, CuPy, JAX, Dask, ...) an array of that library on the input's device: 0-d
        for a reduced value (lazy for Dask)."""

GRAD_RETURNS = (
    VALUE_RETURNS
    + """
    grad : ndarray
        ``∂value/∂pred``: an array of the predictions' shape in the working dtype, of the
        predictions' library, sharing no memory with any earlier result still referenced
        (large gradients of the logits loss, 1-128 MiB, reuse the buffer of one that nothing
        refers to any more: :mod:`bcekit.losses._buffers`). For ``reduction="none"`` it is
        the element-wise derivative ``∂ℓᵢ/∂predᵢ`` (the gradient of the sum)."""
)

RAISES = """

    Raises
    ------
    ValueError
        Naming the argument: a non-numeric dtype, NaN, infinities outside the logits, shapes
        that do not broadcast, values out of range, a non-boolean mask, an unknown reduction,
        or empty input with a mean reduction.
    TypeError
        Naming both arguments, if arrays of two libraries are mixed (NumPy arrays may
        accompany Dask ones).
"""


def loss_docs(
    value_summary: str,
    grad_summary: str,
    parameters: str,
    returns: tuple[str, str] = (VALUE_RETURNS, GRAD_RETURNS),
) -> dict[str, str]:
    """The docstrings of a loss's value function and of its ``*_value_and_grad`` twin.

    Each is its summary (with the formula), then ``parameters`` (numpydoc entries, indented
    by four spaces), the matching ``returns`` section and :data:`RAISES`; the result is the
    keywords ``value_doc`` and ``grad_doc`` of :func:`bcekit.losses._base.functional_forms`.
    """
    heading = "\n\n    Parameters\n    ----------"
    value_doc, grad_doc = (
        summary.rstrip() + heading + parameters + section + RAISES
        for summary, section in zip((value_summary, grad_summary), returns, strict=True)
    )
    return {"value_doc": value_doc, "grad_doc": grad_doc}
