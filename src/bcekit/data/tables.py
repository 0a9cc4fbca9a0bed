"""Tabular data in, numeric matrix out: CSV and Parquet reading and column preprocessing.

:func:`read_table` reads a CSV or Parquet file through pyarrow and reports every problem as a
:class:`DataError` that names the file, the column and the row. :class:`TablePreprocessor`
learns, from a training table, which columns are features, how text columns are one-hot
encoded, what fills missing values and how features are standardised; it applies the same
transformation to new tables and checks that they match, and it round-trips through JSON so a
saved model carries its preprocessing with it.

Rows are counted from 1, over data rows only (a CSV header line is not a row).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bcekit.data.csv_files import read_csv
from bcekit.data.errors import DataError

#: The identifier written into :meth:`TablePreprocessor.to_dict`.
FORMAT = "bcekit.table-preprocessor/1"

#: Most distinct values a text column may have and still be one-hot encoded.
MAX_CATEGORIES = 100

_PARQUET_MAGIC = b"PAR1"
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 8192


def _quote_list(names: Iterable[Any], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------- reading files


def read_table(path: str | os.PathLike[str], *, delimiter: str | None = None) -> pa.Table:
    """Read a CSV or Parquet file into a :class:`pyarrow.Table`.

    The format comes from the content: a file that starts with Parquet's ``PAR1`` magic is
    Parquet, UTF-8 text is CSV with a header line (:func:`bcekit.data.csv_files.read_csv`:
    the delimiter sniffed from the first lines, fields of any length), anything else is
    refused. In CSV, empty fields and the usual markers (``NA``, ``NaN``, ``null``, ...) are
    missing values.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    delimiter : str, optional
        The CSV field delimiter; default: sniffed (``,``, ``;``, tab or ``|``).

    Returns
    -------
    pyarrow.Table
        At least one row, with unique column names.

    Raises
    ------
    DataError
        Missing, empty, unreadable or binary file; ragged CSV rows (the message gives the
        line); a corrupt Parquet file; duplicate column names; no data rows.
    """
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise DataError(source, "no such file") from None
    except IsADirectoryError:
        raise DataError(source, "is a directory; expected a CSV or Parquet file") from None
    except OSError as exc:
        raise DataError(source, f"cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise DataError(source, "the file is empty")

    if head.startswith(_PARQUET_MAGIC):
        table = _read_parquet(path, source)
    elif path.suffix.lower() in _PARQUET_SUFFIXES:
        raise DataError(source, "not a Parquet file (it lacks the PAR1 magic bytes)")
    elif not _looks_like_text(head):
        raise DataError(source, "not a CSV (UTF-8 text) or Parquet file")
    else:
        table = read_csv(path, source, head, delimiter=delimiter)

    duplicated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if duplicated:
        raise DataError(source, f"duplicate column names {_quote_list(duplicated)}")
    if table.num_rows == 0:
        raise DataError(source, "no data rows (only a header)")
    return table


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _read_parquet(path: Path, source: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(source, f"cannot read as Parquet ({reason})") from None


# --------------------------------------------------------------------------- column helpers


def _is_numeric(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_decimal(dtype)
        or pa.types.is_null(dtype)
    )


def _as_float(column: pa.ChunkedArray) -> np.ndarray:
    """Column as float64 with NaN where a value is missing (null or NaN)."""
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return np.array(values, dtype=np.float64, copy=True)


def _as_text(column: pa.ChunkedArray, source: str, name: str) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowException:
        raise DataError(
            source, f"column {name!r} has type {column.type}, which cannot be encoded"
        ) from None


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _missing_problem(first_rows: dict[str, int]) -> str:
    if len(first_rows) == 1:
        ((name, row),) = first_rows.items()
        return f"column {name!r} has missing values (first at row {row})"
    parts = ", ".join(f"{name!r} (first at row {row})" for name, row in first_rows.items())
    return f"columns {parts} have missing values"


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- preprocessing


@dataclass
class TablePreprocessor:
    """Turns a table into a float64 feature matrix and 0/1 targets, the same way every time.

    Build it with :meth:`fit` on training data; apply it with :meth:`transform` and
    :meth:`encode_target`. Numeric columns (integers, floats, booleans) pass through; text
    columns are one-hot encoded when ``one_hot`` was asked for, one indicator per category
    seen in training (a category not seen then, or a missing one under ``impute``, encodes
    as all zeros). With ``impute``, missing numbers take the training mean or median.
    Finally each feature is standardised, :math:`x' = (x - \\mu) / \\sigma`, with the
    training mean and standard deviation (:math:`\\sigma = 1` for constant features).

    Attributes
    ----------
    target : str or None
        Target column name.
    classes : list
        The two target values, sorted; the second is the positive class (label 1).
    columns : list of str
        Input feature columns, in matrix order.
    categories : dict of str to list of str
        One-hot encoded columns and their categories.
    impute : {"mean", "median"} or None
        How missing numeric values are filled.
    fill_values : dict of str to float
        Fill value of each numeric column, when ``impute`` is set.
    mean, scale : list of float
        Standardisation of each output feature.
    explicit_features : bool
        Whether the feature list was given; if not, new tables may not have extra columns.
    dropped : list of str
        Columns left out on purpose; new tables may carry them.
    """

    target: str | None
    classes: list[Any]
    columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    impute: str | None = None
    fill_values: dict[str, float] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    explicit_features: bool = False
    dropped: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls,
        table: pa.Table,
        target: str,
        *,
        features: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        one_hot: bool = False,
        impute: str | None = None,
        standardize: bool = True,
        source: str = "table",
    ) -> TablePreprocessor:
        """Learn the preprocessing from a training table.

        Parameters
        ----------
        table : pyarrow.Table
            Training data, including the target column.
        target : str
            Name of the binary target column.
        features : sequence of str, optional
            Feature columns to use; default: every column but the target and ``drop``.
        drop : sequence of str, default=()
            Columns to leave out.
        one_hot : bool, default=False
            One-hot encode text columns; without it they are an error.
        impute : {"mean", "median"}, optional
            Fill missing numeric values; without it they are an error.
        standardize : bool, default=True
            Learn a per-feature mean and standard deviation; otherwise 0 and 1.
        source : str, default="table"
            Name used in error messages (the file name).

        Returns
        -------
        TablePreprocessor

        Raises
        ------
        DataError
            Unknown columns, no features, text or missing values without the option that
            handles them, infinite values, a target without exactly two classes.
        """
        if impute not in (None, "mean", "median"):
            raise ValueError(f"impute must be 'mean', 'median' or None; got {impute!r}")
        columns, drop = _select_columns(table.column_names, target, features, drop, source)
        _check_target_type(table.column(target).type, target, source)

        text = [c for c in columns if not _is_numeric(table.column(c).type)]
        if text and not one_hot:
            raise DataError(
                source,
                f"non-numeric feature columns {_quote_list(text)}",
                [("one_hot", None), ("drop", ",".join(text))],
            )
        classes = _fit_classes(table.column(target), target, source)

        pre = cls(
            target=target,
            classes=classes,
            columns=columns,
            impute=impute,
            explicit_features=features is not None,
            dropped=drop,
        )
        numeric = {c: _as_float(table.column(c)) for c in columns if c not in text}
        pre._check_values(table, numeric, text, source, fitting=True)
        for name in text:
            pre.categories[name] = _fit_categories(table.column(name), name, source)
        if impute is not None:
            reduce = np.nanmean if impute == "mean" else np.nanmedian
            empty = [c for c, v in numeric.items() if np.isnan(v).all()]
            if empty:
                raise DataError(
                    source,
                    f"columns {_quote_list(empty)} have no values to impute from",
                    [("drop", ",".join(empty))],
                )
            pre.fill_values = {c: float(reduce(v)) for c, v in numeric.items()}

        X = pre._assemble(table, numeric, source)
        n_out = X.shape[1]
        if standardize:
            mean = X.mean(axis=0)
            std = X.std(axis=0)
            pre.mean = mean.tolist()
            pre.scale = np.where(std > 0, std, 1.0).tolist()
        else:
            pre.mean, pre.scale = [0.0] * n_out, [1.0] * n_out
        return pre

    # ------------------------------------------------------------------ applying

    @property
    def feature_names(self) -> list[str]:
        """Names of the output features: numeric columns, then ``column=category`` indicators."""
        out: list[str] = []
        for name in self.columns:
            if name in self.categories:
                out.extend(f"{name}={cat}" for cat in self.categories[name])
            else:
                out.append(name)
        return out

    def transform(self, table: pa.Table, *, source: str = "table") -> np.ndarray:
        """The float64 feature matrix of ``table``, shape ``(n_rows, len(feature_names))``.

        Raises
        ------
        DataError
            Feature columns missing or (unless the features were listed explicitly)
            unexpected, a column of the wrong kind, or missing values the model cannot fill.
        """
        names = table.column_names
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise DataError(
                source, f"the model's feature columns {_quote_list(missing)} are missing"
            )
        if not self.explicit_features:
            known = {*self.columns, *self.dropped, self.target}
            extra = [c for c in names if c not in known]
            if extra:
                raise DataError(
                    source,
                    f"columns {_quote_list(extra)} were not among the model's features",
                    [("drop", ",".join(extra))],
                )
        wrong = [
            c
            for c in self.columns
            if c not in self.categories and not _is_numeric(table.column(c).type)
        ]
        if wrong:
            raise DataError(
                source,
                f"columns {_quote_list(wrong)} hold text where the model expects numbers",
            )
        numeric = {c: _as_float(table.column(c)) for c in self.columns if c not in self.categories}
        self._check_values(table, numeric, list(self.categories), source, fitting=False)
        X = self._assemble(table, numeric, source)
        X -= np.asarray(self.mean)
        X /= np.asarray(self.scale)
        return X

    def encode_target(self, table: pa.Table, *, source: str = "table") -> np.ndarray:
        """Target column as int64 labels: 0 for ``classes[0]``, 1 for ``classes[1]``.

        Raises
        ------
        DataError
            No target column, missing target values, or a value outside ``classes``.
        """
        if self.target is None or self.target not in table.column_names:
            raise DataError(source, f"no target column {self.target!r}")
        column = table.column(self.target)
        missing = _missing_mask(column)
        if missing.any():
            raise DataError(
                source,
                f"target column {self.target!r} has missing values "
                f"(first at row {_first_row(missing)})",
            )
        try:
            value_set = pa.array(self.classes).cast(column.type)
        except pa.ArrowException:
            raise DataError(
                source,
                f"target column {self.target!r} has type {column.type}, which does not "
                f"match the model's classes {_quote_list(self.classes)}",
            ) from None
        index = pc.index_in(column, value_set=value_set).to_numpy(zero_copy_only=False)
        unknown = np.isnan(index) if index.dtype.kind == "f" else np.zeros(len(index), bool)
        if unknown.any():
            row = _first_row(unknown)
            value = column[row - 1].as_py()
            raise DataError(
                source,
                f"target column {self.target!r} has the value {value!r} at row {row}, "
                f"not one of the model's classes {_quote_list(self.classes)}",
            )
        return index.astype(np.int64)

    def decode_labels(self, labels: np.ndarray) -> pa.Array:
        """The class values of 0/1 ``labels``, in the target column's own type."""
        return pa.array(self.classes).take(pa.array(np.asarray(labels, dtype=np.int64)))

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible description, read back by :meth:`from_dict`."""
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TablePreprocessor:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            The description is not one this version wrote, or is inconsistent.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"preprocessing description must have format {FORMAT!r}")
        fields = {k: v for k, v in data.items() if k != "format"}
        try:
            pre = cls(**fields)
        except TypeError as exc:
            raise ValueError(f"preprocessing description is malformed ({exc})") from None
        n_out = len(pre.feature_names)
        consistent = (
            len(pre.classes) == 2
            and len(pre.mean) == n_out
            and len(pre.scale) == n_out
            and all(isinstance(c, str) for c in pre.columns)
            and set(pre.categories) <= set(pre.columns)
            and all(isinstance(s, int | float) and s > 0 for s in pre.scale)
            and (
                pre.impute is None or set(pre.fill_values) >= set(pre.columns) - set(pre.categories)
            )
        )
        if not consistent:
            raise ValueError("preprocessing description is inconsistent")
        return pre

    # ------------------------------------------------------------------ internals

    def _check_values(
        self,
        table: pa.Table,
        numeric: dict[str, np.ndarray],
        text: Sequence[str],
        source: str,
        *,
        fitting: bool,
    ) -> None:
        infinite = {c: _first_row(np.isinf(v)) for c, v in numeric.items() if np.isinf(v).any()}
        if infinite:
            where = ", ".join(f"{c!r} (first at row {r})" for c, r in infinite.items())
            noun = "column" if len(infinite) == 1 else "columns"
            raise DataError(
                source, f"infinite values in {noun} {where}", [("drop", ",".join(infinite))]
            )
        if self.impute is not None:
            return
        masks = {
            c: np.isnan(numeric[c]) if c in numeric else _missing_mask(table.column(c))
            for c in self.columns
        }
        holes = {c: _first_row(mask) for c, mask in masks.items() if mask.any()}
        if holes:
            if fitting:
                remedies = [("impute", "mean|median"), ("drop", ",".join(holes))]
                raise DataError(source, _missing_problem(holes), remedies)
            raise DataError(
                source, _missing_problem(holes) + " and the model was trained without impute"
            )

    def _assemble(self, table: pa.Table, numeric: dict[str, np.ndarray], source: str) -> np.ndarray:
        blocks = []
        for name in self.columns:
            if name in self.categories:
                cats = pa.array(self.categories[name], type=pa.string())
                text = _as_text(table.column(name), source, name)
                index = pc.fill_null(pc.index_in(text, value_set=cats), -1)
                index = index.to_numpy(zero_copy_only=False)
                blocks.append((index[:, None] == np.arange(len(cats))).astype(np.float64))
            else:
                values = numeric[name]
                if self.impute is not None:
                    values = np.where(np.isnan(values), self.fill_values[name], values)
                blocks.append(values[:, None])
        return np.hstack(blocks) if blocks else np.empty((table.num_rows, 0))


def _missing_mask(column: pa.ChunkedArray) -> np.ndarray:
    mask = pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False)
    return np.asarray(mask, dtype=bool)


def _select_columns(
    names: list[str],
    target: str,
    features: list[str] | None,
    drop: Iterable[str],
    source: str,
) -> tuple[list[str], list[str]]:
    """The feature columns (``features``, else every column but the target and ``drop``)
    and ``drop`` without repeats, both checked against the column ``names``."""
    if target not in names:
        raise DataError(
            source, f"no target column {target!r}; the columns are {_quote_list(names)}"
        )
    drop = list(dict.fromkeys(drop))
    unknown = [c for c in [*drop, *(features or [])] if c not in names]
    if unknown:
        raise DataError(
            source, f"no column {_quote_list(unknown)}; the columns are {_quote_list(names)}"
        )
    chosen = features if features is not None else names
    columns = [c for c in dict.fromkeys(chosen) if c != target and c not in drop]
    if not columns:
        raise DataError(source, "no feature columns are left to train on")
    return columns, drop


def _check_target_type(dtype: pa.DataType, target: str, source: str) -> None:
    """Refuse target types other than numbers, strings and dictionary-encoded strings."""
    if not (
        _is_numeric(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_dictionary(dtype)
    ):
        raise DataError(source, f"target column {target!r} has unsupported type {dtype}")


def _fit_classes(column: pa.ChunkedArray, target: str, source: str) -> list[Any]:
    missing = _missing_mask(column)
    if missing.any():
        raise DataError(
            source,
            f"target column {target!r} has missing values (first at row {_first_row(missing)})",
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
        examples = _quote_list(unique.take(shown).to_pylist(), limit=4)
        raise DataError(
            source,
            f"target column {target!r} has {len(unique)} distinct values ({examples}); "
            "a binary model needs exactly two",
        )
    values = unique.take(pc.sort_indices(unique)).to_pylist()
    return [_python_scalar(v) for v in values]


def _fit_categories(column: pa.ChunkedArray, name: str, source: str) -> list[str]:
    text = _as_text(column, source, name)
    unique = pc.drop_null(pc.unique(text))
    if len(unique) > MAX_CATEGORIES:
        raise DataError(
            source,
            f"column {name!r} has {len(unique)} distinct values, too many to one-hot encode "
            f"(at most {MAX_CATEGORIES})",
            [("drop", name)],
        )
    return unique.take(pc.sort_indices(unique)).to_pylist()
