"""CSV files through pyarrow: the delimiter sniffed, blocks grown for long fields.

:func:`read_csv` reads a CSV file with a header line; :func:`bcekit.data.tables.read_table`
calls it for text files.

* The delimiter is the one given, else :func:`sniff_delimiter` picks it from the first lines:
  a comma, unless the comma leaves the header a single field or splits the lines into
  unequal numbers of fields while one of ``;``, tab or ``|`` splits them all alike (as in
  the semicolon-separated exports of locales that write decimal commas).
* pyarrow parses in blocks of 1 MiB; a field longer than that (a long text in one row, as
  real exports have) makes it fail with "straddling object straddles two block
  boundaries". The block is then made four times larger and the file read again, up to
  blocks of 1 GiB.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from bcekit.data.errors import DataError

__all__ = ["DELIMITERS", "read_csv", "sniff_delimiter"]

#: Delimiters :func:`sniff_delimiter` chooses from, the comma first.
DELIMITERS = (",", ";", "\t", "|")

_SNIFF_LINES = 20
_FIRST_BLOCK = 1 << 20  # pyarrow's default block size
_LAST_BLOCK = 1 << 30
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


def sniff_delimiter(head: bytes) -> str:
    """The delimiter of a CSV file whose first bytes are ``head``.

    The first lines of ``head`` (up to its last line break, quoted fields respected) are
    split with each of :data:`DELIMITERS`. A delimiter fits when it splits the header into
    two or more fields and every line into as many. The comma is chosen when it fits or
    when none does; otherwise the first delimiter that fits.

    Parameters
    ----------
    head : bytes
        The start of the file (UTF-8).

    Returns
    -------
    str
    """
    end = head.rfind(b"\n") + 1
    text = (head[:end] if end else head).decode("utf-8", errors="replace")
    fitting = []
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            counts = [len(row) for row in itertools.islice(reader, _SNIFF_LINES) if row]
        except csv.Error:
            continue
        if counts and counts[0] > 1 and all(n == counts[0] for n in counts):
            fitting.append(delimiter)
    return fitting[0] if fitting and "," not in fitting else ","


def _read_growing(path: Path, parse: Any, convert: Any, *, use_threads: bool = True) -> pa.Table:
    """``pyarrow.csv.read_csv``, again with blocks four times larger while a field
    straddles two blocks."""
    import pyarrow.csv as pcsv

    block = _FIRST_BLOCK
    while True:
        options = pcsv.ReadOptions(block_size=block, use_threads=use_threads)
        try:
            return pcsv.read_csv(
                path, read_options=options, parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or block >= _LAST_BLOCK:
                raise
            block *= 4


def read_csv(path: Path, source: str, head: bytes, *, delimiter: str | None = None) -> pa.Table:
    """Read the CSV file ``path`` (whose first bytes are ``head``) with a header line.

    Empty fields and the usual markers (``NA``, ``NaN``, ``null``, ...) are missing values.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    source : str
        Its name in messages.
    head : bytes
        The first bytes of the file, to sniff the delimiter from.
    delimiter : str, optional
        The field delimiter (one character); default: :func:`sniff_delimiter`.

    Raises
    ------
    DataError
        An empty file, ragged rows (the message gives the line), any other parse error.
    """
    import pyarrow.csv as pcsv

    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(f"delimiter must be one character; got {delimiter!r}")
    chosen = delimiter or sniff_delimiter(head)
    convert = pcsv.ConvertOptions(strings_can_be_null=True)
    try:
        return _read_growing(path, pcsv.ParseOptions(delimiter=chosen), convert)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Empty CSV file" in message:
            raise DataError(source, "the file is empty") from None
        if _RAGGED.search(message):
            raise DataError(source, _describe_ragged_row(path, chosen, convert)) from None
        reason = message.splitlines()[0][:200]
        raise DataError(source, f"cannot parse as CSV ({reason})") from None


def _describe_ragged_row(path: Path, delimiter: str, convert: Any) -> str:
    """Re-read serially, which lets pyarrow number lines, to find the first ragged row."""
    import pyarrow.csv as pcsv

    bad: list[Any] = []

    def handler(row: Any) -> str:
        bad.append(row)
        return "error"

    parse = pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler)
    try:
        _read_growing(path, parse, convert, use_threads=False)
    except pa.ArrowInvalid:
        pass
    if not bad:
        return "rows have different numbers of fields"
    row = bad[0]
    where = f"line {row.number}" if row.number is not None else "a line"
    return f"{where} has {row.actual_columns} fields but the header has {row.expected_columns}"
