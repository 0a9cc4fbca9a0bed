"""Parquet directories read by Dask workers: checks, preprocessing statistics and row blocks.

``bcekit train`` on a directory or glob of Parquet files reads each file on a worker with
pyarrow; each file is one row block. Two passes over the files:

1. **statistics**: every file reports its row count, the target values it holds, where its
   feature columns first have a missing or infinite value, and for its training rows the
   count, mean and centred sum of squares of each feature; the client merges them (Chan et
   al.'s pairwise update, exact up to rounding) into a
   :class:`~bcekit.data.tables.TablePreprocessor`, the same object the in-memory path fits;
2. **row blocks**: every file applies that preprocessor's own ``transform`` and
   ``encode_target`` to its rows, and its rows are split into training and validation rows.

Rows are split by a random draw per row, seeded by ``(seed, file index)``: a row is a
validation row with probability ``validation_fraction`` (not stratified). Feature columns must
be numeric (integers, floats, booleans, decimals); missing values may be filled with the
training mean (``impute="mean"``). The files must be readable at the same path by the client
(which lists them and reads their footers) and by every worker.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bcekit.data.columns import as_float as _as_float
from bcekit.data.columns import check_target_type as _check_target_type
from bcekit.data.columns import is_numeric as _is_numeric
from bcekit.data.columns import missing_problem as _missing_problem
from bcekit.data.columns import quote_list as _quote_list
from bcekit.data.columns import select_columns as _select_columns
from bcekit.data.tables import DataError, TablePreprocessor
from bcekit.distributed._compat import require_dask

PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = "*?["


def is_file_collection(path: str | Path) -> bool:
    """Whether ``path`` names several files: an existing directory or a glob pattern."""
    return Path(path).is_dir() or any(char in str(path) for char in _GLOB_CHARS)


@dataclass(frozen=True)
class ParquetFiles:
    """The Parquet files of a directory or glob, with their row counts and common schema."""

    source: str
    paths: tuple[str, ...]
    rows: tuple[int, ...]
    schema: pa.Schema


def list_parquet(path: str | Path) -> ParquetFiles:
    """Find the Parquet files under ``path`` and read their footers (not their data).

    Parameters
    ----------
    path : str or path-like
        A directory (searched recursively for ``*.parquet`` and ``*.pq``), a glob pattern
        (``"data/*.parquet"``, ``**`` allowed), or one Parquet file.

    Returns
    -------
    ParquetFiles

    Raises
    ------
    DataError
        Nothing found, a file that is not Parquet, files whose columns differ, no rows.
    """
    import pyarrow.parquet as pq

    source = str(path)
    if any(char in source for char in _GLOB_CHARS):
        paths = sorted(p for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not paths:
            raise DataError(source, "no files match this pattern")
    elif Path(path).is_dir():
        paths = sorted(
            str(p)
            for p in Path(path).rglob("*")
            if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
        )
        if not paths:
            raise DataError(
                source,
                "is a directory with no Parquet files (*.parquet, *.pq); expected a CSV or "
                "Parquet file, or a directory of Parquet files",
            )
    elif Path(path).is_file():
        paths = [source]
    else:
        raise DataError(source, "no such file")
    rows, schema = [], None
    for file in paths:
        try:
            meta = pq.read_metadata(file)
            file_schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(file, f"cannot read as Parquet ({reason})") from None
        if schema is None:
            schema = file_schema
        elif not file_schema.remove_metadata().equals(schema.remove_metadata()):
            raise DataError(
                file,
                f"its columns ({_describe(file_schema)}) differ from those of {paths[0]} "
                f"({_describe(schema)}); every file must have the same columns and types",
            )
        rows.append(meta.num_rows)
    if sum(rows) == 0:
        raise DataError(source, "no data rows")
    return ParquetFiles(source, tuple(paths), tuple(rows), schema)


def _describe(schema: pa.Schema, limit: int = 6) -> str:
    parts = [f"{field.name}: {field.type}" for field in schema]
    return ", ".join(parts[:limit]) + (", ..." if len(parts) > limit else "")


@dataclass
class ParquetTrainingData:
    """Preprocessed training and validation rows held by the workers (persisted).

    Attributes
    ----------
    preprocessor : TablePreprocessor
        Fitted on the training rows; what ``bcekit evaluate``/``predict`` apply later.
    X_train, y_train, X_val, y_val : dask arrays
        Standardised float64 features and 0/1 float64 labels, one block per file.
    """

    preprocessor: TablePreprocessor
    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any


def read_parquet_table(
    files: ParquetFiles,
    target: str,
    *,
    features: list[str] | None = None,
    drop: list[str] = (),
    impute: str | None = None,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> ParquetTrainingData:
    """Check the files, fit the preprocessing on the training rows and persist the blocks.

    Runs on the active Dask client. Parameters are those of
    :meth:`~bcekit.data.tables.TablePreprocessor.fit` (without one-hot encoding), and the
    row split described in the module docstring.

    Raises
    ------
    DataError
        Unknown or non-numeric columns, missing values without ``impute="mean"``, infinite
        values, a target without exactly two values, too few rows of a class on one side of
        the split.
    """
    import dask

    columns, drop = _feature_columns(files, target, features, drop, impute)
    split = (float(validation_fraction), int(seed))
    summaries = dask.compute(
        *[
            dask.delayed(_summarize, pure=True)(path, i, target, columns, split)
            for i, path in enumerate(files.paths)
        ]
    )
    pre = _preprocessor(files, summaries, target, columns, features, list(drop), impute, split[0])
    X_train, y_train, X_val, y_val = dask.persist(*_blocks(files, summaries, pre, split))
    return ParquetTrainingData(pre, X_train, y_train, X_val, y_val)


def _feature_columns(
    files: ParquetFiles,
    target: str,
    features: list[str] | None,
    drop: Sequence[str],
    impute: str | None,
) -> tuple[list[str], list[str]]:
    """The feature columns and ``drop`` without repeats, checked against the schema before
    any data is read."""
    source = files.source
    if impute not in (None, "mean"):
        raise DataError(
            source,
            f"impute={impute!r} needs all rows in one place; a directory of Parquet files "
            "can fill missing values with the training mean",
            [("impute", "mean")],
        )
    columns, drop = _select_columns(files.schema.names, target, features, drop, source)
    _check_target_type(files.schema.field(target).type, target, source)
    text = [c for c in columns if not _is_numeric(files.schema.field(c).type)]
    if text:
        raise DataError(
            source,
            f"non-numeric feature columns {_quote_list(text)} (a directory of Parquet files "
            "is read by Dask workers, which take numeric features only)",
            [("drop", ",".join(text))],
        )
    return columns, drop


def _validation_rows(n_rows: int, index: int, split: tuple[float, int]) -> np.ndarray:
    """Boolean mask of the validation rows of file ``index``."""
    fraction, seed = split
    return np.random.default_rng([seed, index]).random(n_rows) < fraction


def _read(path: str, columns: list[str]) -> pa.Table:
    """The columns of one file, read on a worker."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            path, f"a Dask worker cannot read it ({reason}); every worker must see the files"
        ) from None


def _first_rows(mask: np.ndarray) -> np.ndarray:
    """Per column, the 1-based row of the first True, or 0 when there is none."""
    return np.where(mask.any(axis=0), mask.argmax(axis=0) + 1, 0)


def _summarize(
    path: str, index: int, target: str, columns: list[str], split: tuple[float, int]
) -> dict[str, Any]:
    """What one file contributes to the checks and statistics (runs on a worker)."""
    table = _read(path, [*columns, target])
    val = _validation_rows(table.num_rows, index, split)
    labels = table.column(target)
    if pa.types.is_dictionary(labels.type):
        labels = pc.cast(labels, labels.type.value_type)
    missing_target = pc.is_null(labels, nan_is_null=True).to_numpy(zero_copy_only=False)
    X = np.column_stack([_as_float(table.column(c)) for c in columns])
    counts = {}
    for side, rows in (("train", ~val), ("val", val)):
        tally = pc.value_counts(labels.filter(pa.array(rows & ~missing_target)))
        counts[side] = dict(
            zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True)
        )
    train = X[~val]
    present = ~np.isnan(train)
    count = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.nansum(train, axis=0) / np.maximum(count, 1), 0.0)
    centred = np.where(present, train - mean, 0.0)
    return {
        "first_missing_target": int(_first_rows(missing_target[:, None])[0]),
        "counts": counts,
        "first_missing": _first_rows(np.isnan(X)),
        "first_infinite": _first_rows(np.isinf(X)),
        "count": count,
        "mean": mean,
        "m2": np.einsum("ij,ij->j", centred, centred),
        "n_train": int((~val).sum()),
        "n_val": int(val.sum()),
    }


def _merge_moments(summaries: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
    """Count, mean and centred sum of squares of every feature over all training rows.

    Pairwise update of Chan, Golub and LeVeque: merging ``(n_a, μ_a, M_a)`` and
    ``(n_b, μ_b, M_b)`` gives ``n = n_a + n_b``, ``μ = μ_a + δ n_b/n`` and
    ``M = M_a + M_b + δ² n_a n_b/n`` with ``δ = μ_b − μ_a``.
    """
    n = np.zeros_like(summaries[0]["mean"])
    mean, m2 = n.copy(), n.copy()
    for part in summaries:
        total = n + part["count"]
        share = np.divide(part["count"], total, out=np.zeros_like(n), where=total > 0)
        delta = part["mean"] - mean
        mean = mean + delta * share
        m2 = m2 + part["m2"] + delta * delta * n * share
        n = total
    return n, mean, m2


def _check_values(files: ParquetFiles, summaries, target: str, columns, impute) -> None:
    """Infinite values, missing targets, missing features without ``impute``: per file."""
    for path, part in zip(files.paths, summaries, strict=True):
        infinite = {c: int(r) for c, r in zip(columns, part["first_infinite"], strict=True) if r}
        if infinite:
            where = ", ".join(f"{c!r} (first at row {r})" for c, r in infinite.items())
            noun = "column" if len(infinite) == 1 else "columns"
            raise DataError(
                path, f"infinite values in {noun} {where}", [("drop", ",".join(infinite))]
            )
        if part["first_missing_target"]:
            raise DataError(
                path,
                f"target column {target!r} has missing values "
                f"(first at row {part['first_missing_target']})",
            )
        holes = {c: int(r) for c, r in zip(columns, part["first_missing"], strict=True) if r}
        if holes and impute is None:
            raise DataError(
                path, _missing_problem(holes), [("impute", "mean"), ("drop", ",".join(holes))]
            )


def _classes(files: ParquetFiles, summaries, target: str, fraction: float) -> list[Any]:
    """The two target values, sorted; both must have rows on each side of the split."""
    tallies = {side: {} for side in ("train", "val")}
    for part in summaries:
        for side, tally in tallies.items():
            for value, count in part["counts"][side].items():
                tally[value] = tally.get(value, 0) + count
    values = sorted({*tallies["train"], *tallies["val"]})
    if len(values) < 2:
        raise DataError(
            files.source,
            f"target column {target!r} has a single class {values[0]!r}; training needs two",
        )
    if len(values) > 2:
        raise DataError(
            files.source,
            f"target column {target!r} has {len(values)} distinct values "
            f"({_quote_list(values[:5], limit=4)}); a binary model needs exactly two",
        )
    per_side = {side: [tally.get(v, 0) for v in values] for side, tally in tallies.items()}
    if min(per_side["train"] + per_side["val"]) < 1:
        raise DataError(
            files.source,
            f"{sum(files.rows)} rows (training {per_side['train']}, validation "
            f"{per_side['val']} per class) are too few to hold out a validation fraction of "
            f"{fraction} with both classes on each side",
        )
    return values


def _preprocessor(
    files: ParquetFiles,
    summaries: list[dict[str, Any]],
    target: str,
    columns: list[str],
    features: list[str] | None,
    drop: list[str],
    impute: str | None,
    fraction: float,
) -> TablePreprocessor:
    """The TablePreprocessor of the in-memory path, from the merged file summaries."""
    _check_values(files, summaries, target, columns, impute)
    classes = _classes(files, summaries, target, fraction)
    count, mean, m2 = _merge_moments(summaries)
    n_train = sum(part["n_train"] for part in summaries)
    fill_values = {}
    if impute is not None:
        empty = [c for c, k in zip(columns, count, strict=True) if k == 0]
        if empty:
            raise DataError(
                files.source,
                f"columns {_quote_list(empty)} have no values to impute from",
                [("drop", ",".join(empty))],
            )
        fill_values = {c: float(m) for c, m in zip(columns, mean, strict=True)}
    std = np.sqrt(m2 / n_train)  # filled values equal the mean and add nothing to m2
    return TablePreprocessor(
        target=target,
        classes=classes,
        columns=columns,
        impute=impute,
        fill_values=fill_values,
        mean=mean.tolist(),
        scale=np.where(std > 0, std, 1.0).tolist(),
        explicit_features=features is not None,
        dropped=drop,
    )


def _file_blocks(
    path: str, index: int, pre: TablePreprocessor, split: tuple[float, int]
) -> tuple[np.ndarray, ...]:
    """One file's standardised features and 0/1 labels, training rows then validation rows."""
    table = _read(path, [*pre.columns, pre.target])
    X = pre.transform(table, source=path)
    y = pre.encode_target(table, source=path).astype(np.float64)
    val = _validation_rows(table.num_rows, index, split)
    return X[~val], y[~val], X[val], y[val]


def _blocks(
    files: ParquetFiles,
    summaries: list[dict[str, Any]],
    pre: TablePreprocessor,
    split: tuple[float, int],
) -> tuple[Any, ...]:
    """Lazy ``X_train, y_train, X_val, y_val``: one block per file (empty blocks left out)."""
    import dask

    da = require_dask()
    n_features = len(pre.feature_names)
    parts = [
        dask.delayed(_file_blocks, pure=True)(path, i, pre, split)
        for i, path in enumerate(files.paths)
    ]
    out = []
    for offset, key in ((0, "n_train"), (2, "n_val")):
        kept = [(p, s[key]) for p, s in zip(parts, summaries, strict=True) if s[key]]
        X = [da.from_delayed(p[offset], (n, n_features), dtype=np.float64) for p, n in kept]
        y = [da.from_delayed(p[offset + 1], (n,), dtype=np.float64) for p, n in kept]
        out += [da.concatenate(X), da.concatenate(y)]
    return tuple(out)
