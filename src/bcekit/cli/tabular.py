"""Helpers the table-reading commands share: their options, column lists, dropping columns."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click

from bcekit.cli.options import F


def model_option(dest: str, choices: list[str], default: str, help_text: str) -> Callable[[F], F]:
    """``--model``: which estimator a command fits, passed to it as ``dest``."""
    return click.option(
        "--model",
        dest,
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help_text,
    )


def table_options(func: F) -> F:
    """Add ``--drop``, ``--one-hot`` and ``--impute``: how a table's columns become features."""
    func = click.option(
        "--impute", type=click.Choice(["mean", "median"]), help="Fill missing numbers this way."
    )(func)
    func = click.option("--one-hot", is_flag=True, help="One-hot encode text columns.")(func)
    return click.option("--drop", multiple=True, metavar="COLS", help="Columns to leave out.")(func)


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
