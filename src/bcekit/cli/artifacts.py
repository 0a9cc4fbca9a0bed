"""Model folders on disk: the model, its preprocessing, and safe publication of outputs.

A model folder holds ``model.safetensors`` + ``model.json`` (written by :func:`bcekit.io.save`)
and ``preprocess.json`` (the :class:`~bcekit.data.tables.TablePreprocessor` that turns a
table into the model's features). Its files are read as :mod:`bcekit.io.reading` reads
files from strangers: regular files only, bounded in size. Outputs are checked before any
work starts (the folder exists and takes a new file, and the output is none of the inputs),
built under a temporary name next to their destination and renamed into place only when
complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bcekit.cli.errors import CLIError

PREPROCESS_FILE = "preprocess.json"
MODEL_FILES = ("model.safetensors", "model.json")

# Files whose presence marks a folder as earlier bcekit output, safe to replace.
_OUTPUT_MARKERS = (*MODEL_FILES, "metrics.json", "report.html", "checkpoint", "predictions.json")


def check_writable(path: Path, option: str = "--output") -> None:
    """Refuse an output whose folder is missing or does not take a new file.

    The test creates and deletes a temporary file there, named as :mod:`bcekit.io.atomic`
    names its own, which also catches read-only file systems and rights that
    :func:`os.access` does not see.

    Raises
    ------
    CLIError
        Naming ``option`` and ``path`` as the user gave it.
    """
    parent = path.resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{option} {path}: the folder {parent} does not exist; create it first")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot write in {parent} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_not_input(path: Path, inputs: Iterable[Path], option: str = "--output") -> None:
    """Refuse an output that is one of the ``inputs`` (the same file, by inode, through any
    link or spelling) or a folder holding one, which writing the output would replace.

    Raises
    ------
    CLIError
        Naming ``option``, ``path`` and the input.
    """
    if not path.exists():
        return
    target = path.resolve()
    for source in inputs:
        if not source.exists():
            continue
        if os.path.samefile(path, source) or target in source.resolve().parents:
            raise CLIError(
                f"{option} {path}: is the input {source} or holds it; writing the output "
                "would replace it, so choose another path"
            )


def check_output_dir(
    path: str | os.PathLike[str], option: str = "--output", inputs: Iterable[Path] = ()
) -> Path:
    """Validate an output folder before any work starts.

    The parent folder must exist and take new files; the folder itself must not be or hold
    one of ``inputs``, and must not exist, or be empty, or hold earlier bcekit output (which
    the run will replace when it finishes).

    Raises
    ------
    CLIError
        With the option name and the problem.
    """
    path = Path(path)
    check_writable(path, option)
    check_not_input(path, inputs, option)
    if path.exists():
        if not path.is_dir():
            raise CLIError(f"{option} {path}: exists and is not a folder; choose another path")
        entries = [p.name for p in path.iterdir()]
        if entries and not any(name in entries for name in _OUTPUT_MARKERS):
            raise CLIError(
                f"{option} {path}: exists and holds other files; choose a new or empty folder"
            )
    return path


@contextlib.contextmanager
def publish(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` when the block finishes cleanly."""
    from bcekit.io import atomic_directory

    with atomic_directory(path, overwrite=True) as tmp:
        yield tmp


def save_model_dir(directory: Path, model: Any, preprocessor: Any) -> None:
    """Write ``model`` and its preprocessing into ``directory`` (created if needed)."""
    from bcekit import io
    from bcekit.data.preprocessor import write_preprocessor

    directory.mkdir(parents=True, exist_ok=True)
    io.save(model, directory)
    write_preprocessor(directory / PREPROCESS_FILE, preprocessor)


def saved_model_class(path: str | os.PathLike[str]) -> str | None:
    """The estimator class named in ``path/model.json``, or None when it cannot be read."""
    from bcekit.io import ModelFileError
    from bcekit.io.reading import read_json_file

    try:
        document = read_json_file(Path(path) / MODEL_FILES[1])
    except (OSError, ModelFileError):
        return None
    name = document.get("class") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


def load_estimator(path: Path) -> Any:
    """The estimator saved in the folder ``path`` (:func:`bcekit.io.load`).

    Raises
    ------
    CLIError
        Files missing, unreadable, corrupt, truncated or edited.
    """
    from bcekit import io

    try:
        return io.load(path)
    except io.ModelFileError as exc:
        raise CLIError(f"{path}: the model file is unusable: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"{path}: cannot read the model ({exc.strerror or exc})") from exc


def load_model_dir(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """Read a model folder written by :func:`save_model_dir`.

    Returns
    -------
    (estimator, TablePreprocessor)

    Raises
    ------
    CLIError
        Folder or files missing, corrupt, truncated, edited, or inconsistent with each other.
    """
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{path}: no such model folder")
    if not path.is_dir():
        raise CLIError(f"{path}: not a model folder (expected a folder with {MODEL_FILES[1]})")
    absent = [name for name in (*MODEL_FILES, PREPROCESS_FILE) if not (path / name).exists()]
    if absent:
        hint = " (was it written by 'bcekit train'?)" if PREPROCESS_FILE in absent else ""
        raise CLIError(f"{path}: not a complete model folder; missing {', '.join(absent)}{hint}")
    model = load_estimator(path)
    preprocessor = _load_preprocessor(path / PREPROCESS_FILE)
    n_model = getattr(model, "n_features_in_", None)
    n_pre = len(preprocessor.feature_names)
    if n_model is not None and n_model != n_pre:
        raise CLIError(
            f"{path}: the model expects {n_model} features but {PREPROCESS_FILE} makes {n_pre}; "
            "the folder was edited or mixes files from different runs"
        )
    classes = getattr(model, "classes_", None)
    if classes is None or list(classes) != [0, 1]:
        raise CLIError(
            f"{path}: the model's classes_ {_shown(classes)} are not the 0 and 1 that "
            f"{PREPROCESS_FILE} encodes its two classes {preprocessor.classes!r:.80} as; the "
            "folder was edited or mixes files from different runs"
        )
    return model, preprocessor


def _load_preprocessor(path: Path) -> Any:
    from bcekit.data.preprocessor import read_preprocessor
    from bcekit.io import ModelFileError

    try:
        return read_preprocessor(path)
    except ModelFileError as exc:  # names the file; special files and sizes are refused there
        raise CLIError(f"{exc} (corrupt or edited)") from exc
    except ValueError as exc:
        raise CLIError(f"{path}: corrupt or edited ({exc})") from exc
    except OSError as exc:
        raise CLIError(f"{path}: cannot read it ({exc.strerror or exc})") from exc


def _shown(values: Any) -> str:
    return "none" if values is None else f"{list(values)!r:.80}"
