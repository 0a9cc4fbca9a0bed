"""A pair of files that vouch for each other: safetensors arrays and JSON metadata.

The JSON holds the format name and version, the bcekit version, the caller's body, a manifest
(name, dtype and shape of every array) and the SHA-256 of the safetensors file. Model files
(:mod:`bcekit.io.model_files`) and training states (:mod:`bcekit.io.training_state`) are both
such pairs.

Reading trusts nothing before it is checked (:mod:`bcekit.io.reading`): the JSON is read only
if it is a regular file of at most :data:`~bcekit.io.reading.METADATA_LIMIT` bytes; the
manifest must list plain numeric dtypes and non-negative integer shapes; the weights file is
read only if it is a regular file no larger than those arrays plus a small header, and only
when this process has the memory to hold it twice (the bytes and the arrays).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bcekit._memory import available_memory, format_bytes
from bcekit.io.atomic import atomic_directory, atomic_write
from bcekit.io.codec import plain_dtype
from bcekit.io.reading import ModelFileError, read_json_file, read_regular_file

__all__ = ["FileFormat", "read_verified", "write_verified"]

# Room for the safetensors header: its 8-byte length, then JSON with each array's offsets.
_HEADER_BASE = 64 * 1024
_HEADER_PER_ARRAY = 1024
_MAX_NDIM = 32


class FileFormat(NamedTuple):
    """One kind of verified pair: what frames its JSON and how its messages name it."""

    #: The JSON's ``format`` value, e.g. ``"bcekit-model"``.
    name: str
    #: The newest ``format_version`` this bcekit writes and reads.
    version: int
    #: Keys the JSON must hold.
    required_keys: tuple[str, ...]
    #: Names the file in messages: ``"model"``, ``"training-state"``.
    kind: str
    #: What an older bcekit must be upgraded to do: ``"load it"``.
    action: str
    #: JSON indentation when writing.
    indent: int


def write_verified(
    weights_path: Path,
    meta_path: Path,
    arrays: dict[str, np.ndarray],
    body: dict[str, Any],
    file_format: FileFormat,
) -> None:
    """Write ``arrays`` as safetensors and ``body`` as JSON, framed by the format name and
    version, the bcekit version, the array manifest and the SHA-256 of the weights.

    Both files are written atomically, the JSON last; a parent folder that does not exist
    yet is created, complete or not at all. :func:`read_verified` reads them back.
    """
    import json

    from safetensors.numpy import save as st_save

    import bcekit

    payload = st_save(arrays)
    document = {
        "format": file_format.name,
        "format_version": file_format.version,
        "bcekit_version": bcekit.__version__,
        **body,
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    text = json.dumps(document, indent=file_format.indent, allow_nan=False) + "\n"
    directory = weights_path.parent
    if directory.exists():
        _write_pair(weights_path, meta_path, payload, text)
    else:
        with atomic_directory(directory) as tmp:
            _write_pair(tmp / weights_path.name, tmp / meta_path.name, payload, text)


def _write_pair(weights_path: Path, meta_path: Path, payload: bytes, text: str) -> None:
    with atomic_write(weights_path, "wb") as f:
        f.write(payload)
    with atomic_write(meta_path, "w") as f:
        f.write(text)


def read_verified(
    weights_path: Path,
    meta_path: Path,
    file_format: FileFormat,
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a pair written by :func:`write_verified`: ``(document, arrays)``.

    Checks, in order: the JSON is an object of format ``file_format.name`` at a version this
    bcekit reads (else "upgrade bcekit to ``action``"), it has the required keys, it passes
    ``check``, its manifest is well formed; then (only then) the weights are read, within
    the size the manifest allows, and must match the SHA-256, be readable safetensors, and
    hold exactly the arrays the manifest lists. ``file_format.kind`` names the file in
    messages ("model", "training-state"). Raises :class:`ModelFileError`, or
    :class:`FileNotFoundError` when a file is missing.
    """
    from safetensors.numpy import load as st_load

    import bcekit

    kind = file_format.kind
    document = read_json_file(meta_path)
    if not isinstance(document, dict):
        raise ModelFileError(f"{meta_path} must hold a JSON object; got {type(document).__name__}")
    version = document.get("format_version")
    if document.get("format") != file_format.name or not isinstance(version, int):
        raise ModelFileError(f"{meta_path} is not a bcekit {kind} file")
    if version > file_format.version:
        raise ModelFileError(
            f"{meta_path} was written in {kind} format version {version} by bcekit "
            f"{document.get('bcekit_version', '?')!s:.40}; this bcekit {bcekit.__version__} "
            f"reads {kind} format versions up to {file_format.version}: upgrade bcekit to "
            f"{file_format.action}"
        )
    missing = [k for k in file_format.required_keys if k not in document]
    if missing:
        raise ModelFileError(f"{meta_path} lacks the keys {missing}")
    if check is not None:
        check(document)
    data_bytes = _manifest_bytes(document["arrays"], meta_path)
    limit = 8 + _HEADER_BASE + _HEADER_PER_ARRAY * len(document["arrays"]) + data_bytes
    _check_memory(weights_path, min(limit, weights_path.stat().st_size))
    payload = read_regular_file(weights_path, limit=limit, what=f"{kind} weights file")
    if hashlib.sha256(payload).hexdigest() != document["sha256"]:
        raise ModelFileError(
            f"{weights_path} does not match the SHA-256 recorded in {meta_path}: the arrays "
            "are corrupt or truncated, or one of the two files was changed after saving"
        )
    try:
        arrays = st_load(payload)
    except Exception as exc:
        raise ModelFileError(f"{weights_path} is not a readable safetensors file: {exc}") from exc
    _check_manifest(arrays, document["arrays"], weights_path)
    return document, arrays


def _manifest_bytes(manifest: Any, meta_path: Path) -> int:
    """Bytes of the arrays ``manifest`` lists, after checking that each entry is
    ``{"dtype": plain numeric dtype, "shape": [non-negative ints]}``."""
    if not isinstance(manifest, dict):
        raise ModelFileError(f"'arrays' in {meta_path} must be a JSON object")
    total = 0
    for key, spec in manifest.items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        try:
            dtype = plain_dtype(spec.get("dtype") if isinstance(spec, dict) else None)
        except ValueError as exc:
            raise ModelFileError(f"array {key!r:.80} in {meta_path}: {exc}") from None
        if (
            not isinstance(shape, list)
            or len(shape) > _MAX_NDIM
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise ModelFileError(
                f"array {key!r:.80} in {meta_path} must have a shape of at most {_MAX_NDIM} "
                f"non-negative integers; got {shape!r:.80}"
            )
        total += math.prod(shape) * dtype.itemsize
    return total


def _check_memory(weights_path: Path, n_bytes: int) -> None:
    """Refuse weights this process could not hold twice (the file's bytes and the arrays)."""
    available = available_memory()
    if available is not None and 2 * n_bytes > available:
        raise ModelFileError(
            f"{weights_path} needs about {format_bytes(2 * n_bytes)} of memory to load, more "
            f"than the {format_bytes(available)} available"
        )


def _check_manifest(arrays: dict[str, np.ndarray], manifest: Any, weights_path: Path) -> None:
    """The weights file must hold exactly the arrays, dtypes and shapes the JSON lists."""
    if set(arrays) != set(manifest):
        raise ModelFileError(
            f"{weights_path} holds arrays {sorted(arrays)} but the metadata lists "
            f"{sorted(manifest)}"
        )
    for key, spec in manifest.items():
        array = arrays[key]
        if spec.get("dtype") != array.dtype.str or spec.get("shape") != list(array.shape):
            raise ModelFileError(
                f"array {key!r} in {weights_path} has dtype {array.dtype.str} and shape "
                f"{list(array.shape)}; the metadata says {spec}"
            )
