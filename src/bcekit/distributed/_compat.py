"""Optional-dependency guard: Dask is imported only when a dask collection is in play."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def require_dask() -> ModuleType:
    """Import and return ``dask.array``, or raise an ImportError that says what to install."""
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "Dask input needs the optional dependency dask; install it with "
            "`pip install 'bcekit[dask]'`."
        ) from exc
    return da


def is_dask_collection(obj: Any) -> bool:
    """True for dask arrays and data frames; never imports Dask itself."""
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(obj)
