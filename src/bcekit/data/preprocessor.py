"""The preprocessing of a table: feature columns, one-hot encoding, imputation, scaling.

:class:`TablePreprocessor` learns, from a training table, which columns are features, how text
columns are one-hot encoded, what fills missing values and how features are standardised; it
applies the same transformation to new tables and checks that they match, and it round-trips
through JSON (:meth:`~TablePreprocessor.to_dict`) so a saved model carries its preprocessing.
:func:`write_preprocessor` and :func:`read_preprocessor` keep it in a file (``bcekit train``'s
``preprocess.json``).

Rows are counted from 1, over data rows only (a CSV header line is not a row).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bcekit.data.columns import (
    as_float,
    as_text,
    check_target_type,
    first_row,
    fit_categories,
    fit_classes,
    is_numeric,
    missing_mask,
    missing_problem,
    quote_list,
    select_columns,
)
from bcekit.data.errors import DataError

__all__ = ["FORMAT", "TablePreprocessor", "read_preprocessor", "write_preprocessor"]

#: The identifier written into :meth:`TablePreprocessor.to_dict`.
FORMAT = "bcekit.table-preprocessor/1"


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
        columns, drop = select_columns(table.column_names, target, features, drop, source)
        check_target_type(table.column(target).type, target, source)

        text = [c for c in columns if not is_numeric(table.column(c).type)]
        if text and not one_hot:
            raise DataError(
                source,
                f"non-numeric feature columns {quote_list(text)}",
                [("one_hot", None), ("drop", ",".join(text))],
            )
        classes = fit_classes(table.column(target), target, source)

        pre = cls(
            target=target,
            classes=classes,
            columns=columns,
            impute=impute,
            explicit_features=features is not None,
            dropped=drop,
        )
        numeric = {c: as_float(table.column(c)) for c in columns if c not in text}
        pre._check_values(table, numeric, text, source, fitting=True)
        for name in text:
            pre.categories[name] = fit_categories(table.column(name), name, source)
        if impute is not None:
            reduce = np.nanmean if impute == "mean" else np.nanmedian
            empty = [c for c, v in numeric.items() if np.isnan(v).all()]
            if empty:
                raise DataError(
                    source,
                    f"columns {quote_list(empty)} have no values to impute from",
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
                source, f"the model's feature columns {quote_list(missing)} are missing"
            )
        if not self.explicit_features:
            known = {*self.columns, *self.dropped, self.target}
            extra = [c for c in names if c not in known]
            if extra:
                raise DataError(
                    source,
                    f"columns {quote_list(extra)} were not among the model's features",
                    [("drop", ",".join(extra))],
                )
        wrong = [
            c
            for c in self.columns
            if c not in self.categories and not is_numeric(table.column(c).type)
        ]
        if wrong:
            raise DataError(
                source,
                f"columns {quote_list(wrong)} hold text where the model expects numbers",
            )
        numeric = {c: as_float(table.column(c)) for c in self.columns if c not in self.categories}
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
        missing = missing_mask(column)
        if missing.any():
            raise DataError(
                source,
                f"target column {self.target!r} has missing values "
                f"(first at row {first_row(missing)})",
            )
        try:
            value_set = pa.array(self.classes).cast(column.type)
        except pa.ArrowException:
            raise DataError(
                source,
                f"target column {self.target!r} has type {column.type}, which does not "
                f"match the model's classes {quote_list(self.classes)}",
            ) from None
        index = pc.index_in(column, value_set=value_set).to_numpy(zero_copy_only=False)
        unknown = np.isnan(index) if index.dtype.kind == "f" else np.zeros(len(index), bool)
        if unknown.any():
            row = first_row(unknown)
            value = column[row - 1].as_py()
            raise DataError(
                source,
                f"target column {self.target!r} has the value {value!r} at row {row}, "
                f"not one of the model's classes {quote_list(self.classes)}",
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
        infinite = {c: first_row(np.isinf(v)) for c, v in numeric.items() if np.isinf(v).any()}
        if infinite:
            where = ", ".join(f"{c!r} (first at row {r})" for c, r in infinite.items())
            noun = "column" if len(infinite) == 1 else "columns"
            raise DataError(
                source, f"infinite values in {noun} {where}", [("drop", ",".join(infinite))]
            )
        if self.impute is not None:
            return
        masks = {
            c: np.isnan(numeric[c]) if c in numeric else missing_mask(table.column(c))
            for c in self.columns
        }
        holes = {c: first_row(mask) for c, mask in masks.items() if mask.any()}
        if holes:
            if fitting:
                remedies = [("impute", "mean|median"), ("drop", ",".join(holes))]
                raise DataError(source, missing_problem(holes), remedies)
            raise DataError(
                source, missing_problem(holes) + " and the model was trained without impute"
            )

    def _assemble(self, table: pa.Table, numeric: dict[str, np.ndarray], source: str) -> np.ndarray:
        blocks = []
        for name in self.columns:
            if name in self.categories:
                cats = pa.array(self.categories[name], type=pa.string())
                text = as_text(table.column(name), source, name)
                index = pc.fill_null(pc.index_in(text, value_set=cats), -1)
                index = index.to_numpy(zero_copy_only=False)
                blocks.append((index[:, None] == np.arange(len(cats))).astype(np.float64))
            else:
                values = numeric[name]
                if self.impute is not None:
                    values = np.where(np.isnan(values), self.fill_values[name], values)
                blocks.append(values[:, None])
        return np.hstack(blocks) if blocks else np.empty((table.num_rows, 0))


def write_preprocessor(path: str | os.PathLike[str], preprocessor: TablePreprocessor) -> None:
    """Write ``preprocessor`` to the file ``path``: :meth:`~TablePreprocessor.to_dict` as JSON."""
    text = json.dumps(preprocessor.to_dict(), indent=2, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def read_preprocessor(path: str | os.PathLike[str]) -> TablePreprocessor:
    """Read a file written by :func:`write_preprocessor`, as :mod:`bcekit.io.reading` reads files.

    Regular files only, bounded in size, strict JSON.

    Raises
    ------
    FileNotFoundError, PermissionError
        The file is missing or unreadable.
    bcekit.io.ModelFileError
        Not a regular file, too large, or not JSON (the message names the file).
    ValueError
        Not a description :meth:`TablePreprocessor.from_dict` accepts.
    """
    from bcekit.io.reading import read_json_file

    return TablePreprocessor.from_dict(read_json_file(path))
