"""Atomic file and directory creation: a reader sees the old content or the new, never half.

Both helpers build the new content under a temporary name in the destination's own directory
(so the final ``os.replace``/``os.rename`` stays on one file system and is atomic), flush it to
disk, and only then move it into place. On any error the temporary is removed and the
destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_directory", "atomic_write"]

_WRITE_MODES = ("w", "wb")


def _default_mode(is_dir: bool) -> int:
    """Permission bits a plain ``open``/``mkdir`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if is_dir else 0o666) & ~umask


def _fsync_directory(directory: Path) -> None:
    """Flush a directory entry change (rename) to disk where the platform allows it."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` atomically when the block ends cleanly.

    The file is created next to ``path``, written through the yielded handle, flushed and
    ``fsync``-ed, then moved over ``path`` with :func:`os.replace`. If the block raises, the
    temporary file is deleted and ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its directory must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text mode.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8); must be None in binary mode.

    Yields
    ------
    file object
        The open temporary file.

    Examples
    --------
    >>> with atomic_write("metrics.json", "w") as f:  # doctest: +SKIP
    ...     f.write("{}")
    """
    if mode not in _WRITE_MODES:
        raise ValueError(f"mode must be one of {_WRITE_MODES}; got {mode!r}")
    if mode == "wb" and encoding is not None:
        raise ValueError("encoding must be None in binary mode 'wb'")
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"directory of path does not exist: {str(directory)!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode(is_dir=False))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``path`` at the end.

    Write everything into the yielded directory. When the block ends cleanly it is renamed
    to ``path``; if the block raises it is deleted and nothing appears at ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Final directory. Its parent must exist.
    overwrite : bool, default=False
        What to do when ``path`` already exists. False raises :class:`FileExistsError`
        before anything is written. True replaces it once the new directory is complete:
        the old one is renamed aside, the new one renamed into place, then the old one is
        deleted; if the block fails, the old directory is kept as it was.

    Yields
    ------
    pathlib.Path
        The temporary directory to fill.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"parent directory of path does not exist: {str(parent)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path already exists: {str(path)!r}; pass overwrite=True")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"path exists and is not a directory: {str(path)!r}")
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(is_dir=True))
        _fsync_tree(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_directory(parent)


def _fsync_tree(root: Path) -> None:
    """``fsync`` every regular file and directory under ``root``."""
    for directory, _, files in os.walk(root):
        for name in files:
            file_path = Path(directory, name)
            if file_path.is_symlink():
                continue
            with open(file_path, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_directory(Path(directory))
