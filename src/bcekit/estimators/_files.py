"""The estimators' side of the model file format (:mod:`bcekit.io.model_files`).

Each estimator's ``_state_arrays``/``_state_meta`` say what it saves and its ``_from_state``
builds an instance from the parameters and hands it here, with the arrays and metadata read
back, to check and restore. Every check runs before anything large is allocated, and a file
that does not fit its parameters raises ``ValueError`` (which the loader reports as an
inconsistent model state). The names written here are the format: files already written
(``tests/fixtures/model_files_v0``) must keep loading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.estimators._targets import BINARY, KINDS, MULTICLASS, MULTILABEL, check_saved_classes
from bcekit.nn.sequential import mlp_shapes

__all__ = [
    "anomaly_arrays",
    "anomaly_meta",
    "restore_anomaly",
    "restore_logistic",
    "restore_mlp",
]

# Prefix of the base estimator's arrays in an AnomalyClassifier's file.
_BASE_PREFIX = "base."


# --- LogisticRegression ------------------------------------------------------------------------


def restore_logistic(model: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Any:
    """Set ``coef_``, ``intercept_``, ``target_type_`` and ``n_iter_`` of a new ``model``."""
    coef, intercept = arrays["coef_"], arrays["intercept_"]
    kind = meta["extra"]["target_type_"]
    if kind not in KINDS:
        raise ValueError(f"unknown target_type_ {kind!r}")
    classes = meta["classes_"]
    check_saved_classes(kind, classes)
    n_out = 1 if kind == BINARY else len(classes)
    expected = (n_out, meta["n_features_in_"])
    if coef.shape != expected or intercept.shape != (n_out,):
        raise ValueError(
            f"coef_ {coef.shape} and intercept_ {intercept.shape} must have shapes "
            f"{expected} and ({n_out},) for {kind} targets with {len(classes)} classes"
        )
    if coef.dtype != intercept.dtype or coef.dtype.kind != "f":
        raise ValueError(
            f"coef_ and intercept_ must share one float dtype; got {coef.dtype} and "
            f"{intercept.dtype}"
        )
    model.coef_, model.intercept_ = coef, intercept
    model.target_type_ = kind
    model.n_iter_ = np.asarray(meta["extra"]["n_iter_"], dtype=np.int32)
    return model


# --- MLPClassifier -----------------------------------------------------------------------------


def restore_mlp(model: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Any:
    """Build a new ``model``'s network from its parameters and load the saved weights into it."""
    kind = meta["extra"]["target_type_"]
    n_outputs = int(meta["extra"]["n_outputs_"])
    check_saved_classes(kind, meta["classes_"])
    n_classes = len(meta["classes_"])
    expected = {BINARY: 1, MULTICLASS: n_classes, MULTILABEL: n_classes}.get(kind)
    if expected != n_outputs:
        raise ValueError(
            f"n_outputs_={n_outputs} does not fit {kind!r} targets with {n_classes} classes"
        )
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) != 1:
        raise ValueError(f"network arrays must share one dtype; got {sorted(map(str, dtypes))}")
    shapes = mlp_shapes(meta["n_features_in_"], model._hidden_sizes(), n_outputs, model.dropout)
    if shapes != {k: a.shape for k, a in arrays.items()}:  # checked before allocating
        raise ValueError(f"the weights do not have the shapes {shapes!r:.200} the parameters give")
    model._set_network(meta["n_features_in_"], n_outputs, dtypes.pop(), random_state=0)
    model.network_.load_state_dict(arrays)
    model.target_type_, model.n_outputs_ = kind, n_outputs
    model._partial_trainer = None
    model._record(meta["history_"] or [])
    return model


# --- AnomalyClassifier -------------------------------------------------------------------------


def anomaly_arrays(model: Any) -> dict[str, np.ndarray]:
    """The base estimator's arrays (prefixed ``base.``), its classes and the calibration map."""
    base = model.base_estimator_
    arrays = {_BASE_PREFIX + k: v for k, v in base._state_arrays().items()}
    arrays[_BASE_PREFIX + "classes_"] = np.asarray(base.classes_)
    arrays["calibration_params_"] = model.calibration_params_
    return arrays


def anomaly_meta(model: Any) -> dict[str, Any]:
    """The choices made in ``fit`` and the base estimator's own metadata."""
    base = model.base_estimator_
    base_meta = getattr(base, "_state_meta", None)
    return {
        "imbalance_": model.imbalance_,
        "imbalance_scores_": model.imbalance_scores_,
        "calibration_": model.calibration_,
        "threshold_log_odds_": model.threshold_log_odds_,
        "validation_operating_point_": model.validation_operating_point_,
        "base_estimator": {
            "params": base.get_params(deep=False),
            "history_": getattr(base, "history_", None),
            "extra": base_meta() if callable(base_meta) else {},
        },
    }


def restore_anomaly(
    model: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any], base_class: type
) -> Any:
    """Rebuild the base estimator (of ``base_class``) and set the fitted choices of ``model``."""
    from scipy.special import expit

    extra = meta["extra"]
    base_doc = extra["base_estimator"]
    base_meta = {
        "classes_": arrays[_BASE_PREFIX + "classes_"],
        "n_features_in_": meta["n_features_in_"],
        "feature_names_in_": None,
        "history_": base_doc["history_"],
        "extra": base_doc["extra"],
    }
    base_arrays = {
        k[len(_BASE_PREFIX) :]: v
        for k, v in arrays.items()
        if k.startswith(_BASE_PREFIX) and k != _BASE_PREFIX + "classes_"
    }
    base = base_class._from_state(base_doc["params"], base_arrays, base_meta)
    if meta["classes_"] is None or len(meta["classes_"]) != 2:
        raise ValueError(f"classes_ must hold two classes; got {meta['classes_']!r:.80}")
    for attr in ("classes_", "n_features_in_", "history_"):
        if base_meta[attr] is not None:
            setattr(base, attr, base_meta[attr])

    method, calibration = extra["calibration_"], arrays["calibration_params_"]
    expected = {None: (0,), "sigmoid": (2,), "isotonic": (2, calibration.shape[-1])}
    if method not in expected or calibration.shape != expected[method]:
        raise ValueError(
            f"calibration_params_ of shape {calibration.shape} does not fit calibration_={method!r}"
        )
    threshold = float(extra["threshold_log_odds_"])
    if not np.isfinite(threshold):
        raise ValueError(f"threshold_log_odds_ must be finite; got {threshold}")
    model.base_estimator_ = base
    model.imbalance_ = str(extra["imbalance_"])
    model.imbalance_scores_ = dict(extra["imbalance_scores_"])
    model.calibration_, model.calibration_params_ = method, calibration
    model.threshold_log_odds_ = threshold
    model.threshold_ = float(expit(threshold))
    model.validation_operating_point_ = dict(extra["validation_operating_point_"])
    return model
