"""ONNX export of fitted bcekit estimators, checked by ONNX Runtime in the tests.

:func:`to_onnx` turns a fitted (or loaded) ``LogisticRegression``, ``MLPClassifier``,
``AnomalyClassifier`` or ``SegmentationNet`` into an ``onnx.ModelProto`` whose outputs
``label`` and ``probabilities`` equal ``predict`` and ``predict_proba``. Importing this
package also registers the tabular classifiers with skl2onnx (when it is installed), so
``skl2onnx.to_onnx(make_pipeline(StandardScaler(), MLPClassifier()), X[:1])`` exports a
whole pipeline; :func:`register_skl2onnx` does it explicitly.

Needs the ``onnx`` extra: ``pip install 'bcekit[onnx]'`` (onnx, onnxruntime, skl2onnx).

Modules: :mod:`~bcekit.onnx.graph` (building a graph), :mod:`~bcekit.onnx.layers` (nn layers),
:mod:`~bcekit.onnx.heads` (label and probabilities from logits), one converter per model
kind (:mod:`~bcekit.onnx.linear`, :mod:`~bcekit.onnx.mlp`, :mod:`~bcekit.onnx.anomaly`,
:mod:`~bcekit.onnx.segmentation`), :mod:`~bcekit.onnx.preprocess` (``bcekit train``'s
preprocessing), :mod:`~bcekit.onnx.classifiers` (the tabular entry point),
:mod:`~bcekit.onnx.convert` (:func:`to_onnx`) and :mod:`~bcekit.onnx.registration`
(skl2onnx).
"""

from __future__ import annotations

try:
    import onnx  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "bcekit.onnx needs the onnx package; install the extra: pip install 'bcekit[onnx]' "
        "(onnx, onnxruntime, skl2onnx)"
    ) from exc

from bcekit.onnx.convert import to_onnx
from bcekit.onnx.graph import DEFAULT_OPSET, MIN_OPSET
from bcekit.onnx.registration import register_skl2onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "register_skl2onnx", "to_onnx"]

register_skl2onnx(missing_ok=True)
