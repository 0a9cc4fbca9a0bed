"""Helpers the table-reading commands share: column-list options and dropping columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def split_names(values: Iterable[str]) -> list[str]:
    """Column names from repeatable, comma-separated options: ``--drop a,b --drop c``."""
    names = [name.strip() for value in values for name in value.split(",")]
    return list(dict.fromkeys(name for name in names if name))


def drop_columns(table: Any, drop: list[str], source: str) -> Any:
    """``table`` without the ``drop`` columns, which must exist.

    Raises
    ------
    DataError
        A column to drop is not in the table.
    """
    from bcekit.data.tables import DataError

    unknown = [name for name in drop if name not in table.column_names]
    if unknown:
        raise DataError(
            source,
            f"--drop names no column {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(map(repr, table.column_names[:12]))}",
        )
    return table.drop_columns(drop) if drop else table
