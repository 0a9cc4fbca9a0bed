"""Options shared by every command, and the settings object they fill.

``--json``, ``--quiet`` and ``--debug`` are accepted both before the command name
(``bcekit --json evaluate ...``) and after it (``bcekit evaluate ... --json``); either
place sets the same :class:`Settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def settings() -> Settings:
    """The :class:`Settings` of the running command."""
    return click.get_current_context().ensure_object(Settings)
