"""What the ONNX tests share: the optional imports, and a checked ONNX Runtime session.

Importing this module from a test module skips that module when the onnx extra is missing.
"""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
from bcekit.onnx import DEFAULT_OPSET, MIN_OPSET, to_onnx  # noqa: E402  (needs the skips above)

__all__ = ["ATOL", "DEFAULT_OPSET", "MIN_OPSET", "onnx", "ort", "session", "to_onnx"]

ATOL = 1e-5


def session(proto):
    """An ONNX Runtime session on one thread, after the full ONNX checker."""
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
