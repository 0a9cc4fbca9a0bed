"""Tabular data in, numeric matrix out: CSV and Parquet reading, and the table preprocessing.

:func:`read_table` reads a CSV or Parquet file through pyarrow and reports every problem as a
:class:`DataError` that names the file, the column and the row.
:class:`~bcekit.data.preprocessor.TablePreprocessor` (defined in :mod:`bcekit.data.preprocessor`,
importable from here) turns a table into the feature matrix and targets.

Rows are counted from 1, over data rows only (a CSV header line is not a row).
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pyarrow as pa

from bcekit.data.columns import MAX_CATEGORIES, quote_list
from bcekit.data.csv_files import read_csv
from bcekit.data.errors import DataError
from bcekit.data.preprocessor import FORMAT, TablePreprocessor

__all__ = ["FORMAT", "MAX_CATEGORIES", "DataError", "TablePreprocessor", "read_table"]

_PARQUET_MAGIC = b"PAR1"
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 8192


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
        raise DataError(source, f"duplicate column names {quote_list(duplicated)}")
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
