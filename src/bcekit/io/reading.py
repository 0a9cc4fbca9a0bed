"""Reading files that may come from strangers: regular files only, bounded, parsed within limits.

A model folder can come from anyone, so nothing in it is trusted before it is checked:

* a path must name a regular file (a symlink to one is fine). Named pipes, devices, sockets
  and folders are refused before they are read: the path is ``stat``-ed, opened with
  ``O_NONBLOCK`` (a pipe cannot make the open wait) and ``fstat``-ed again;
* a file is read only up to a size known in advance (:data:`METADATA_LIMIT` for JSON
  metadata; for weights, what their manifest describes), and refused unread when larger;
* JSON must be UTF-8, nest at most :data:`MAX_DEPTH` levels, hold integers of at most
  :data:`MAX_INT_DIGITS` digits and only finite numbers (no ``NaN``, ``Infinity``, ``1e999``).

Every refusal is a :class:`ModelFileError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "METADATA_LIMIT",
    "ModelFileError",
    "parse_json",
    "read_json_file",
    "read_regular_file",
]

#: Largest JSON metadata file read (model.json, state.json, preprocess.json), in bytes.
METADATA_LIMIT = 64 * 2**20
#: Deepest nesting of JSON lists and objects accepted.
MAX_DEPTH = 64
#: Most digits an integer in JSON metadata may have.
MAX_INT_DIGITS = 40

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ModelFileError(ValueError):
    """A model (or training-state) file is corrupt, truncated, edited, inconsistent, not a
    regular file, too large, or from a newer format; the message names the file."""


def _refuse_special(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
    raise ModelFileError(f"{path} is {kind}, not a regular file; refusing to read it")


def read_regular_file(path: str | os.PathLike[str], *, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``, refusing anything else or anything larger.

    Parameters
    ----------
    path : str or os.PathLike
        The file; a symlink is followed, and must lead to a regular file.
    limit : int
        Most bytes accepted; a larger file is refused before it is read.
    what : str, default="file"
        What the file is, for messages ("metadata file", "weights file").

    Returns
    -------
    bytes

    Raises
    ------
    FileNotFoundError, PermissionError
        The file is missing or unreadable.
    ModelFileError
        ``path`` is a folder, pipe, device or socket, or holds more than ``limit`` bytes.
    """
    path = Path(path)
    _refuse_special(path, os.stat(path).st_mode)  # never opens a device or a pipe
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode)  # replaced between stat and open
        if info.st_size > limit:
            raise ModelFileError(
                f"{path} holds {info.st_size} bytes, more than the {limit} a {what} may hold; "
                "refusing to read it"
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{path} grew past {limit} bytes while being read")
    return data


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the out-of-range number {text[:40]}")
    return value


def _refuse_constant(text: str) -> float:
    raise ValueError(f"{text}, which JSON does not allow")


def _check_depth(document: Any, path: Path) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, one level at a time, without recursion
    (JSON gives plain dicts and lists, so exact type tests suffice)."""
    level, depth = [document], 1
    while level:
        if depth > MAX_DEPTH:
            raise ModelFileError(f"{path} nests lists and objects deeper than {MAX_DEPTH} levels")
        below = []
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level, depth = below, depth + 1


def parse_json(raw: bytes, path: str | os.PathLike[str]) -> Any:
    """Parse UTF-8 JSON ``raw`` read from ``path`` within this module's limits.

    Raises
    ------
    ModelFileError
        Not UTF-8, not JSON, nested too deeply, an integer too long, a non-finite number.
    """
    path = Path(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON: it is not UTF-8 text ({exc})") from None
    try:
        document = json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ModelFileError(f"{path} nests lists and objects too deeply to read") from None
    except ValueError as exc:
        raise ModelFileError(f"{path} cannot be read: it holds {exc}") from None
    if isinstance(document, dict | list):
        _check_depth(document, path)
    return document


def read_json_file(path: str | os.PathLike[str], *, limit: int = METADATA_LIMIT) -> Any:
    """Read and parse a JSON metadata file with :func:`read_regular_file` and :func:`parse_json`.

    Raises
    ------
    FileNotFoundError, PermissionError
        The file is missing or unreadable.
    ModelFileError
        Any refusal of either function.
    """
    return parse_json(read_regular_file(path, limit=limit, what="metadata file"), path)
