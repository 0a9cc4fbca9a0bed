"""What the file-format tests share: editing a saved metadata document and forging weights."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from safetensors.numpy import save as st_save


def rewrite_json(meta_path, change: Callable[[dict], object]) -> None:
    """Load the JSON document at ``meta_path``, let ``change`` edit it in place, write it back."""
    document = json.loads(meta_path.read_text())
    change(document)
    meta_path.write_text(json.dumps(document))


def forge_arrays(weights_path, meta_path, arrays: dict, change=lambda document: None) -> None:
    """Replace the weights with ``arrays`` and make the hash and manifest agree: a forgery.

    ``change`` then edits the metadata further.
    """
    payload = st_save(arrays)
    weights_path.write_bytes(payload)

    def agree(document):
        document["sha256"] = hashlib.sha256(payload).hexdigest()
        document["arrays"] = {
            k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
        }
        change(document)

    rewrite_json(meta_path, agree)
