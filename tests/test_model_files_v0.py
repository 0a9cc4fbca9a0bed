"""Model files written by an earlier bcekit keep loading and predicting as they did.

``tests/fixtures/model_files_v0`` holds one small model of each estimator kind, written once
(see ``make_fixtures.py`` there) with the predicted probabilities recorded next to them in
``expected.json``. They are never regenerated: a change that stops them loading, or changes
what they predict, breaks files that users already have.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bcekit
from bcekit.io import load

FIXTURES = Path(__file__).parent / "fixtures" / "model_files_v0"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
KINDS = {
    "logistic": bcekit.LogisticRegression,
    "mlp": bcekit.MLPClassifier,
    "anomaly": bcekit.AnomalyClassifier,
    "segmentation": bcekit.SegmentationNet,
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_old_model_file_predicts_as_recorded(name):
    model = load(FIXTURES / name)
    assert type(model) is KINDS[name]
    record = EXPECTED[name]
    dtype = np.float32 if name == "segmentation" else np.float64
    proba = model.predict_proba(np.asarray(record["X"], dtype=dtype))
    np.testing.assert_allclose(proba, np.asarray(record["proba"]), rtol=1e-6, atol=1e-7)


def test_fixtures_are_small():
    sizes = {p.name: p.stat().st_size for p in FIXTURES.iterdir()}
    assert all(size < 16_000 for size in sizes.values()), sizes
