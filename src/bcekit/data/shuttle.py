"""The Statlog Shuttle anomaly-detection data set, read from the copy inside ``river``.

The UCI Statlog (Shuttle) data has 58,000 rows, 9 integer sensor attributes and 7 classes.
The ODDS benchmark turns it into an anomaly-detection problem: class 4 (8,903 rows) is
dropped, class 1 ("Rad Flow", 45,586 rows) is normal and classes 2, 3, 5, 6 and 7 (3,511
rows) are anomalies, giving 49,097 rows with 7.15% anomalies.

The ``river`` package ships exactly that table (the UCI train and test files together,
already reduced the ODDS way) as ``river/datasets/shuttle.csv.gz`` with columns
``f1 … f9`` and a 0/1 ``anomaly`` column. This module finds the file without importing
``river`` and parses it with ``pyarrow.csv``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_shuttle"]

FEATURE_NAMES = tuple(f"f{i}" for i in range(1, 10))
TARGET_NAME = "anomaly"
TARGET_NAMES = ("normal", "anomaly")

_INSTALL_HINT = "pip install river  (or: pip install 'bcekit[data]')"

_DESCR = """\
Statlog (Shuttle), ODDS version
-------------------------------
49,097 samples, 9 integer-valued features (stored as float64), binary target:
0 = normal (UCI class 1, "Rad Flow"), 1 = anomaly (UCI classes 2, 3, 5, 6, 7);
UCI class 4 removed. 3,511 anomalies (7.15%). Source file: river/datasets/shuttle.csv.gz.
References: UCI ML repository, "Statlog (Shuttle)"; ODDS, Stony Brook University.
"""


def _shuttle_file() -> Path:
    """Path of ``shuttle.csv.gz`` inside the installed ``river`` package."""
    spec = importlib.util.find_spec("river")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location, "datasets", "shuttle.csv.gz")
        if path.is_file():
            return path
    if not locations:
        raise ImportError(
            f"load_shuttle needs the 'river' package, which ships the data: {_INSTALL_HINT}"
        )
    raise ImportError(
        f"the installed 'river' package has no datasets/shuttle.csv.gz (looked in {locations}); "
        f"install a release that ships it: {_INSTALL_HINT}"
    )


def _read_table(path: Path) -> Any:
    """Read the gzip CSV into a pyarrow Table and check its columns and target values."""
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    table = pa_csv.read_csv(path)
    expected = [*FEATURE_NAMES, TARGET_NAME]
    if table.column_names != expected:
        raise ValueError(f"{path} must have the columns {expected}; got {table.column_names}")
    labels = pc.unique(table.column(TARGET_NAME)).to_pylist()
    if not set(labels) <= {0, 1}:
        raise ValueError(f"{path}: column {TARGET_NAME!r} must hold 0 or 1; got {sorted(labels)}")
    return table


def load_shuttle(*, return_X_y: bool = False, as_frame: bool = False) -> Any:
    """Load the Shuttle anomaly-detection data set (ODDS construction).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame and ``target`` as a Series (needs pandas);
        the Bunch then also holds ``frame``, the two joined.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (49,097 × 9, float64), ``target`` (int64, 1 = anomaly), ``feature_names``,
        ``target_names`` (``("normal", "anomaly")``), ``frame`` (None unless ``as_frame``)
        and ``DESCR``.
    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    ImportError
        If ``river`` (which ships the file) is not installed, or pandas when ``as_frame``.

    Examples
    --------
    >>> X, y = load_shuttle(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((49097, 9), 3511)
    """
    table = _read_table(_shuttle_file())
    frame = None
    if as_frame:
        try:
            import pandas  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "load_shuttle(as_frame=True) needs pandas: pip install pandas"
            ) from exc
        frame = table.to_pandas()
        frame[list(FEATURE_NAMES)] = frame[list(FEATURE_NAMES)].astype(np.float64)
        data, target = frame[list(FEATURE_NAMES)], frame[TARGET_NAME]
    else:
        data = np.column_stack(
            [table.column(name).to_numpy().astype(np.float64) for name in FEATURE_NAMES]
        )
        target = table.column(TARGET_NAME).to_numpy().astype(np.int64)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(FEATURE_NAMES),
        target_names=list(TARGET_NAMES),
        DESCR=_DESCR,
    )
