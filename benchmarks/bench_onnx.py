"""Inference through ONNX Runtime vs the estimator itself, on one thread each.

- ``MLPClassifier`` 50 → 64 → 1 (ReLU), ``predict_proba`` on 10⁵ rows, float32 and float64,
  against ``InferenceSession.run`` of :func:`bcekit.onnx.to_onnx`'s export on the same rows.
- ``SegmentationNet`` (U-Net, depth 2, base width 16: the estimator's defaults) on 64×64
  greyscale images: per-image latency for one image per call, and per image in a batch of 16.

Both sides single-threaded: NumPy's BLAS limited to one thread with ``threadpoolctl`` (bcekit
runs no thread pool of its own at inference), ONNX Runtime with ``intra_op_num_threads=1``,
``inter_op_num_threads=1``, sequential execution and its default graph optimisations. The
contenders are interleaved (:func:`benchmarks._common.compare`); the table gives medians, the
ratio of bcekit's time to ONNX Runtime's, and the largest probability difference as a check
that both compute the same thing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from benchmarks._common import compare, table

N_ROWS, N_FEATURES, HIDDEN = 100_000, 50, 64
IMAGE, BATCH = 64, 16


def _session(proto: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _mlp_row(dtype: Any) -> list[Any]:
    from bcekit import MLPClassifier
    from bcekit.onnx import to_onnx

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_ROWS, N_FEATURES)).astype(dtype)
    y = (X[:, :5].sum(axis=1) + rng.standard_normal(N_ROWS) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier((HIDDEN,), max_iter=2, random_state=0).fit(X[:10_000], y[:10_000])
    session = _session(to_onnx(model, X[:1]))
    diff = np.abs(session.run(None, {"X": X})[1] - model.predict_proba(X)).max()
    t = compare(
        {
            "bcekit": lambda: model.predict_proba(X),
            "ort": lambda: session.run(["probabilities"], {"X": X}),
        },
        repeat=7,
    )
    ratio = t["bcekit"].median / t["ort"].median
    name = f"MLP 50→64→1 predict_proba, 10⁵ rows, {np.dtype(dtype).name}"
    return [name, t["bcekit"].median * 1e3, t["ort"].median * 1e3, ratio, float(diff)]


def _unet_rows() -> list[list[Any]]:
    from bcekit import SegmentationNet
    from bcekit.datasets import make_shapes
    from bcekit.onnx import to_onnx

    images, masks = make_shapes(BATCH + 16, size=IMAGE, random_state=0)
    net = SegmentationNet(max_iter=1, early_stopping=False, random_state=0)
    net.fit(images[BATCH:], masks[BATCH:])
    session = _session(to_onnx(net))
    batch = np.ascontiguousarray(images[:BATCH, ..., None])
    one = batch[:1]
    diff = np.abs(session.run(None, {"images": batch})[1] - net.predict_proba(batch)).max()
    rows = []
    for label, x, n in (("1 image per call", one, 1), (f"batch of {BATCH}", batch, BATCH)):
        t = compare(
            {
                "bcekit": lambda x=x: net.predict_proba(x),
                "ort": lambda x=x: session.run(["probabilities"], {"images": x}),
            },
            repeat=7,
        )
        rows.append(
            [
                f"U-Net 64×64, per image, {label}",
                t["bcekit"].median / n * 1e3,
                t["ort"].median / n * 1e3,
                t["bcekit"].median / t["ort"].median,
                float(diff),
            ]
        )
    return rows


def run() -> Any:
    try:
        import onnxruntime  # noqa: F401

        import bcekit.onnx  # noqa: F401
    except ImportError as exc:
        return f"onnx: skipped ({exc})"
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        rows = [_mlp_row(np.float32), _mlp_row(np.float64), *_unet_rows()]
    return table(
        "ONNX Runtime vs the estimator (1 thread each)",
        ["workload", "bcekit ms", "ONNX Runtime ms", "bcekit / ORT", "max |Δp|"],
        rows,
        caption="medians of 7 interleaved calls; NumPy BLAS limited to 1 thread "
        "(threadpoolctl), ORT intra/inter-op threads 1, sequential execution",
    )
