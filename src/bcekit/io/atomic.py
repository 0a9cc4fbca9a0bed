"""Atomic file and directory creation: a reader sees the old content or the new, never half.

Both helpers build the new content under a temporary name in the destination's own directory
(so the final ``os.replace``/``os.rename`` stays on one file system and is atomic), flush it to
disk, and only then move it into place. On any error the temporary is removed and the
destination is left as it was.

Temporaries are named ``.NAME.XXXXXXXX.tmp`` (``.NAME.XXXXXXXX.old`` for a replaced folder on
its way out), and the process writing one holds an exclusive ``flock`` on it. A process killed
outright (``kill -9``, power loss) cannot remove its temporary; the next write to the same
``NAME`` in the same folder does: it deletes every temporary of that name, of exactly that
form, that no process holds locked and that has not changed for :data:`STALE_AFTER` seconds.
An ``.old`` folder is kept while ``NAME`` itself is missing, as it is then the only copy of
the previous content. Nothing else is ever deleted: no other names, no symlinks, no pipes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on POSIX: temporaries are neither locked nor cleaned up
    fcntl = None  # type: ignore[assignment]

__all__ = ["STALE_AFTER", "atomic_directory", "atomic_write"]

#: Seconds a temporary must have gone unchanged before another write may delete it.
STALE_AFTER = 60.0

_WRITE_MODES = ("w", "wb")
# tempfile's names: 8 characters from [a-z0-9_] between our prefix and suffix.
_RANDOM_PART = r"[a-z0-9_]{8}"


def _lock(fd: int) -> None:
    """Take the writer's lock on a temporary (a new name: nobody else can hold it)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _abandoned(path: Path) -> bool:
    """Whether no process holds the lock on ``path`` (opened without following links)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases the lock just taken
    return True


def _remove_stale(path: Path) -> None:
    """Delete abandoned temporaries of earlier writes to ``path`` (see the module docstring)."""
    if fcntl is None:
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_RANDOM_PART}\.(tmp|old)")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        is_dir = stat.S_ISDIR(info.st_mode)
        if not (is_dir or stat.S_ISREG(info.st_mode)) or now - info.st_mtime < STALE_AFTER:
            continue
        if match.group(1) == "old" and not os.path.lexists(path):
            continue
        candidate = Path(entry.path)
        if _abandoned(candidate):
            if is_dir:
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                candidate.unlink(missing_ok=True)


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
    temporary file is deleted and ``path`` is untouched. Temporaries that killed writes to
    ``path`` left behind are deleted first (see the module docstring).

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
    _remove_stale(path)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            _lock(handle.fileno())
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
    Temporaries that killed writes to ``path`` left behind are deleted first (see the module
    docstring).

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
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp"))
    lock = os.open(tmp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        _lock(lock)
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
    finally:
        os.close(lock)
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
