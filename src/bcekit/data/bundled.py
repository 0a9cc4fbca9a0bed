"""The bundled breast-cancer data set: a small binary problem that needs no network.

The Wisconsin diagnostic breast-cancer data (569 tumours, 30 real-valued features) ships
inside scikit-learn, so ``bcekit demo`` and the examples run offline. Targets follow
scikit-learn's coding: ``0 = malignant``, ``1 = benign``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

#: Name of the target column in :func:`breast_cancer_table`.
TARGET_COLUMN = "diagnosis"


@dataclass(frozen=True)
class BundledDataset:
    """A numeric binary-classification data set held in memory.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_features), float64
        Feature matrix.
    target : ndarray of shape (n_samples,), int64
        Class index of each sample, ``0`` or ``1``.
    feature_names : tuple of str
        Name of each column of ``data``.
    target_names : tuple of str
        Name of class ``0`` and of class ``1``.
    """

    data: np.ndarray
    target: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, str]


def load_breast_cancer() -> BundledDataset:
    """Load the breast-cancer data bundled with scikit-learn.

    Returns
    -------
    BundledDataset
        569 samples, 30 float64 features; ``target`` is ``0`` (malignant) or ``1`` (benign).
    """
    from sklearn.datasets import load_breast_cancer as _load

    raw = _load()
    return BundledDataset(
        data=np.asarray(raw.data, dtype=np.float64),
        target=np.asarray(raw.target, dtype=np.int64),
        feature_names=tuple(str(name) for name in raw.feature_names),
        target_names=(str(raw.target_names[0]), str(raw.target_names[1])),
    )


def breast_cancer_table() -> pa.Table:
    """The breast-cancer data as a table: 30 feature columns and a text target column.

    The target column, :data:`TARGET_COLUMN` (``"diagnosis"``), holds ``"malignant"`` or
    ``"benign"``, so the table can be written to CSV or Parquet and fed to ``bcekit train``.

    Returns
    -------
    pyarrow.Table
        569 rows, 31 columns.
    """
    import pyarrow as pa

    ds = load_breast_cancer()
    columns = {name: ds.data[:, j] for j, name in enumerate(ds.feature_names)}
    columns[TARGET_COLUMN] = np.asarray(ds.target_names, dtype=object)[ds.target]
    return pa.table(columns)
