"""Options shared by every command, and the settings object they fill.

``--json``, ``--quiet`` and ``--debug`` are accepted both before the command name
(``bcekit --json evaluate ...``) and after it (``bcekit evaluate ... --json``); either
place sets the same :class:`Settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """How a command reports: machine-readable, silent, or with tracebacks."""

    json: bool = False
    quiet: bool = False
    debug: bool = False


def _setter(attribute: str) -> Callable[[click.Context, click.Parameter, bool], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            setattr(ctx.ensure_object(Settings), attribute, True)

    return callback


def global_options(func: F) -> F:
    """Add ``--json``, ``--quiet`` and ``--debug`` to a command."""
    for name, help_text in (
        ("debug", "Show the full traceback when something fails."),
        ("quiet", "Print only results: no progress bars or notes."),
        ("json", "Print results as JSON on stdout."),
    ):
        func = click.option(
            f"--{name}",
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_setter(name),
            help=help_text,
        )(func)
    return func


def output_option(help_text: str, metavar: str = "DIR") -> Callable[[F], F]:
    """The required ``-o/--output`` option of commands that write files."""
    return click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(path_type=Path),
        metavar=metavar,
        help=help_text,
    )


def held_out_option(name: str, default: float, help_text: str) -> Callable[[F], F]:
    """A fraction of rows held out of training, strictly between 0 and 1."""
    return click.option(
        name,
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=default,
        show_default=True,
        help=help_text,
    )


def model_option(
    dest: str, default: str, help_text: str, choices: tuple[str, ...] = ("logistic", "mlp")
) -> Callable[[F], F]:
    """``--model``: the estimator a command trains, one of ``choices``, passed as ``dest``."""
    return click.option(
        "--model",
        dest,
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help=help_text,
    )


def column_options(func: F) -> F:
    """``--drop``, ``--one-hot`` and ``--impute``: how a command turns a table into features."""
    func = click.option(
        "--impute", type=click.Choice(["mean", "median"]), help="Fill missing numbers this way."
    )(func)
    func = click.option("--one-hot", is_flag=True, help="One-hot encode text columns.")(func)
    return click.option("--drop", multiple=True, metavar="COLS", help="Columns to leave out.")(func)


def seed_option(help_text: str = "Seed of split and model.") -> Callable[[F], F]:
    """``--seed``: the integer seed of a command's random choices (default 0)."""
    return click.option("--seed", type=int, default=0, show_default=True, help=help_text)


def settings() -> Settings:
    """The :class:`Settings` of the running command."""
    return click.get_current_context().ensure_object(Settings)
