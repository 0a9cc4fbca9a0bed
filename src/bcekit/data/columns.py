"""Columns of a pyarrow table as the preprocessing sees them: kinds, values, problems, classes.

Helpers shared by :class:`~bcekit.data.preprocessor.TablePreprocessor`,
:func:`~bcekit.data.tables.read_table` and the Dask path (:mod:`bcekit.distributed.tables`):
whether a column is numeric, its values as floats or text, its missing values and the row they
first appear at (rows counted from 1), the feature columns a choice of options selects, and the
classes or categories a column holds. Problems are :class:`~bcekit.data.errors.DataError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bcekit.data.errors import DataError

__all__ = [
    "MAX_CATEGORIES",
    "as_float",
    "as_text",
    "check_target_type",
    "first_row",
    "fit_categories",
    "fit_classes",
    "is_numeric",
    "missing_mask",
    "missing_problem",
    "python_scalar",
    "quote_list",
    "select_columns",
]

#: Most distinct values a text column may have and still be one-hot encoded.
MAX_CATEGORIES = 100


def quote_list(names: Iterable[Any], limit: int = 8) -> str:
    """``'a', 'b', ...``: the first ``limit`` names, quoted, and how many in all."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def is_numeric(dtype: pa.DataType) -> bool:
    """Whether a column of ``dtype`` holds numbers (integers, floats, booleans, decimals, nulls)."""
    return (
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_decimal(dtype)
        or pa.types.is_null(dtype)
    )


def as_float(column: pa.ChunkedArray) -> np.ndarray:
    """Column as float64 with NaN where a value is missing (null or NaN)."""
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return np.array(values, dtype=np.float64, copy=True)


def as_text(column: pa.ChunkedArray, source: str, name: str) -> pa.ChunkedArray:
    """``column`` cast to strings; DataError when its type cannot be."""
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowException:
        raise DataError(
            source, f"column {name!r} has type {column.type}, which cannot be encoded"
        ) from None


def first_row(mask: np.ndarray) -> int:
    """The first row (counted from 1) where ``mask`` is True."""
    return int(np.flatnonzero(mask)[0]) + 1


def missing_problem(first_rows: dict[str, int]) -> str:
    """The message for columns with missing values, from each one's first row."""
    if len(first_rows) == 1:
        ((name, row),) = first_rows.items()
        return f"column {name!r} has missing values (first at row {row})"
    parts = ", ".join(f"{name!r} (first at row {row})" for name, row in first_rows.items())
    return f"columns {parts} have missing values"


def python_scalar(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (JSON-ready); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def missing_mask(column: pa.ChunkedArray) -> np.ndarray:
    """True where ``column`` is null or NaN."""
    mask = pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False)
    return np.asarray(mask, dtype=bool)


def select_columns(
    names: list[str],
    target: str,
    features: list[str] | None,
    drop: Iterable[str],
    source: str,
) -> tuple[list[str], list[str]]:
    """The feature columns (``features``, else every column but the target and ``drop``)
    and ``drop`` without repeats, both checked against the column ``names``."""
    if target not in names:
        raise DataError(source, f"no target column {target!r}; the columns are {quote_list(names)}")
    drop = list(dict.fromkeys(drop))
    unknown = [c for c in [*drop, *(features or [])] if c not in names]
    if unknown:
        raise DataError(
            source, f"no column {quote_list(unknown)}; the columns are {quote_list(names)}"
        )
    chosen = features if features is not None else names
    columns = [c for c in dict.fromkeys(chosen) if c != target and c not in drop]
    if not columns:
        raise DataError(source, "no feature columns are left to train on")
    return columns, drop


def check_target_type(dtype: pa.DataType, target: str, source: str) -> None:
    """Refuse target types other than numbers, strings and dictionary-encoded strings."""
    if not (
        is_numeric(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_dictionary(dtype)
    ):
        raise DataError(source, f"target column {target!r} has unsupported type {dtype}")


def fit_classes(column: pa.ChunkedArray, target: str, source: str) -> list[Any]:
    """The two sorted classes of a binary target column; DataError otherwise."""
    missing = missing_mask(column)
    if missing.any():
        raise DataError(
            source,
            f"target column {target!r} has missing values (first at row {first_row(missing)})",
        )
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    unique = pc.unique(column)
    if len(unique) < 2:
        raise DataError(
            source,
            f"target column {target!r} has a single class {unique[0].as_py()!r}; "
            "training needs two",
        )
    if len(unique) > 2:
        shown = pc.sort_indices(unique)[:5]
        examples = quote_list(unique.take(shown).to_pylist(), limit=4)
        raise DataError(
            source,
            f"target column {target!r} has {len(unique)} distinct values ({examples}); "
            "a binary model needs exactly two",
        )
    values = unique.take(pc.sort_indices(unique)).to_pylist()
    return [python_scalar(v) for v in values]


def fit_categories(column: pa.ChunkedArray, name: str, source: str) -> list[str]:
    """The sorted categories of a text column to one-hot encode (at most MAX_CATEGORIES)."""
    text = as_text(column, source, name)
    unique = pc.drop_null(pc.unique(text))
    if len(unique) > MAX_CATEGORIES:
        raise DataError(
            source,
            f"column {name!r} has {len(unique)} distinct values, too many to one-hot encode "
            f"(at most {MAX_CATEGORIES})",
            [("drop", name)],
        )
    return unique.take(pc.sort_indices(unique)).to_pylist()
