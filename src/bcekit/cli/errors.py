"""How the command line reports failure: one line on stderr and a documented exit status.

Exit statuses: 0 success, 1 an internal error (a bug: rerun with ``--debug``), 2 bad input
(arguments, data or model files; the message says what to do), 130 interrupted.
"""

from __future__ import annotations

import sys

import click

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class CLIError(click.ClickException):
    """Bad input, reported as ``error: <message>`` with exit status 2.

    Parameters
    ----------
    message : str
        What is wrong and, where there is one, the fix; newlines are folded into one line.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(message: str) -> str:
    """Fold a possibly multi-line message into a single line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def flag(option: str, value: str | None) -> str:
    """Spell a remedy as the command-line flag that applies it: ``--impute mean|median``."""
    name = "--" + option.replace("_", "-")
    return name if value is None else f"{name} {value}"


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status for an exception that reached the top.

    Parameters
    ----------
    exc : BaseException
        Anything a command raised.

    Returns
    -------
    (str, int)
        Message (without the ``error:`` prefix) and exit status.
    """
    data_errors = sys.modules.get("bcekit.data.errors")  # a DataError implies it is loaded
    if data_errors is not None and isinstance(exc, data_errors.DataError):
        return one_line(exc.format(flag)), EXIT_BAD_INPUT
    if isinstance(exc, click.UsageError):
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        return one_line(exc.format_message()) + hint, EXIT_BAD_INPUT
    if isinstance(exc, click.ClickException):
        return one_line(exc.format_message()), exc.exit_code
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, OSError) and exc.filename is not None:
        return one_line(f"{exc.filename}: {exc.strerror or exc}"), EXIT_INTERNAL
    detail = one_line(f"{type(exc).__name__}: {exc}")
    return f"internal error ({detail}); rerun with --debug for the traceback", EXIT_INTERNAL
