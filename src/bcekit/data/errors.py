"""The error every data reader and checker raises: :class:`DataError`, with its remedies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DataError"]


def _python_option(name: str, value: str | None) -> str:
    return name if value is None else f"{name}={value}"


class DataError(ValueError):
    """A data file or table that cannot be used, with what to do about it.

    Parameters
    ----------
    source : str
        The file (or table) the problem is in.
    problem : str
        What is wrong, naming the column and row where there is one.
    remedies : sequence of (str, str or None)
        Options that would fix it, as ``(option, value)``: ``("impute", "mean|median")``,
        ``("drop", "age")``; a ``None`` value is a switch such as ``("one_hot", None)``.
        :meth:`format` spells them for the caller (keyword arguments here, command-line
        flags in the CLI).
    """

    def __init__(
        self, source: str, problem: str, remedies: Sequence[tuple[str, str | None]] = ()
    ) -> None:
        self.source = source
        self.problem = problem
        self.remedies = tuple(remedies)
        super().__init__(self.format())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's arguments, so that the error crosses processes intact
        (a Dask worker raising it, the client reporting it)."""
        return type(self), (self.source, self.problem, self.remedies)

    def format(self, spell: Callable[[str, str | None], str] = _python_option) -> str:
        """The one-line message, with each remedy written by ``spell(option, value)``."""
        message = f"{self.source}: {self.problem}" if self.source else self.problem
        if self.remedies:
            message += "; pass " + " or ".join(spell(name, value) for name, value in self.remedies)
        return message
