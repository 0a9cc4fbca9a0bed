"""ONNX export of SegmentationNet (the U-Net), run by ONNX Runtime on held-out shapes.

Both upsampling modes, with and without BatchNorm; image sizes that are and are not
multiples of ``2**depth`` (the graph mirror-pads and crops as the estimator does).
"""

from __future__ import annotations

import numpy as np
import pytest

from bcekit import SegmentationNet, io
from bcekit.datasets import make_shapes
from onnx_support import ATOL, onnx, session, to_onnx


@pytest.fixture(scope="module")
def shapes():
    images, masks = make_shapes(56, size=32, random_state=0)
    return images[:44], masks[:44], images[44:]


@pytest.fixture(scope="module")
def nets(shapes):
    images, masks, _ = shapes
    fitted = {}
    for upsample in ("nearest", "bilinear"):
        for batch_norm in (False, True):
            net = SegmentationNet(
                depth=2, base_width=4, max_iter=5, batch_size=8, upsample=upsample,
                batch_norm=batch_norm, loss="bce+dice", pos_weight="balanced",
                learning_rate=0.01, random_state=0,
            )  # fmt: skip
            fitted[upsample, batch_norm] = net.fit(images, masks)
    return fitted


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batchnorm"])
@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(32, 32), (29, 26)], ids=["multiple", "padded"])
def test_probabilities_and_masks_match(nets, shapes, upsample, batch_norm, size):
    net = nets[upsample, batch_norm]
    images = np.ascontiguousarray(shapes[2][:, : size[0], : size[1], None])
    label, proba = session(to_onnx(net)).run(["label", "probabilities"], {"images": images})
    expected = net.predict_proba(images)
    assert proba.shape == expected.shape == (len(images), *size)
    assert label.dtype == np.uint8
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    clear = np.abs(expected - net.threshold) > ATOL
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(label[clear], net.predict(images)[clear])
    # the trained nets are not constant: both classes appear, so the masks are a real check
    assert 0 < label.mean() < 1


def test_graph_keeps_batchnorm_and_resizes_as_configured(nets):
    nodes = [n for n in to_onnx(nets["bilinear", True]).graph.node]
    ops = {n.op_type for n in nodes}
    assert {"Conv", "BatchNormalization", "MaxPool", "Resize", "Concat"} <= ops
    resize = next(n for n in nodes if n.op_type == "Resize")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attrs["mode"] == b"linear" and attrs["coordinate_transformation_mode"] == b"half_pixel"


def test_float64_images_give_a_float64_input(nets, shapes):
    net = nets["nearest", False]
    images = shapes[2][:3, ..., None].astype(np.float64)
    proto = to_onnx(net, images)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    _, proba = session(proto).run(None, {"images": images})
    np.testing.assert_allclose(proba, net.predict_proba(images), rtol=0, atol=ATOL)


def test_saved_and_loaded_net_exports_identically(nets, tmp_path):
    net = nets["bilinear", True]
    io.save(net, tmp_path / "net")
    assert to_onnx(io.load(tmp_path / "net")).SerializeToString() == (
        to_onnx(net).SerializeToString()
    )


def test_wrong_image_samples_are_refused(nets, shapes):
    with pytest.raises(ValueError, match=r"X_sample must be images \(n, H, W, 1\)"):
        to_onnx(nets["nearest", False], np.zeros((2, 8, 8, 3), np.float32))
