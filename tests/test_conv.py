"""Conv2D: values against a direct sum, gradients by finite differences and against PyTorch."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcekit.nn import conv
from bcekit.nn._block_threads import block_threads
from bcekit.nn.conv import Conv2D, conv_geometry
from bcekit.nn.gradcheck import gradcheck

CONFIGS = [  # (kernel, stride, padding, height, width)
    (3, 1, "same", 7, 6),
    (3, 2, "same", 7, 6),
    (3, 2, "valid", 9, 8),
    (1, 1, "same", 5, 4),
    (1, 2, "valid", 5, 5),
    (2, 2, "same", 5, 7),
    (5, 1, "valid", 7, 6),
]


def direct_conv(x, w, b, stride, padding):
    """The defining sum, one output pixel at a time (independent of im2col)."""
    n, h, wd, _ = x.shape
    k = w.shape[0]
    ho, top, bottom = conv_geometry(h, k, stride, padding)
    wo, left, right = conv_geometry(wd, k, stride, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.empty((n, ho, wo, w.shape[3]))
    for p in range(ho):
        for q in range(wo):
            patch = xp[:, p * stride : p * stride + k, q * stride : q * stride + k, :]
            out[:, p, q, :] = np.einsum("nijc,ijco->no", patch, w) + b
    return out


def make_layer(k, s, padding, cin=3, cout=4, seed=0):
    layer = Conv2D(cin, cout, k, stride=s, padding=padding, random_state=seed, dtype=np.float64)
    layer.params["bias"].value[:] = np.random.default_rng(seed + 1).normal(size=cout)
    return layer


@pytest.mark.parametrize("cin", [1, 3])  # one channel: the columns are copied tap by tap
@pytest.mark.parametrize(("k", "s", "padding", "h", "w"), CONFIGS)
def test_forward_matches_direct_sum(k, s, padding, h, w, cin):
    layer = make_layer(k, s, padding, cin=cin)
    x = np.random.default_rng(2).normal(size=(2, h, w, cin))
    expected = direct_conv(x, layer.params["weight"].value, layer.params["bias"].value, s, padding)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cin", "cout"), [(2, 3), (1, 1)])
@pytest.mark.parametrize(("k", "s", "padding", "h", "w"), CONFIGS)
def test_gradients_by_central_differences(k, s, padding, h, w, cin, cout):
    layer = make_layer(k, s, padding, cin=cin, cout=cout)
    x = np.random.default_rng(3).normal(size=(2, h, w, cin))
    assert gradcheck(layer, x)


@pytest.mark.parametrize(("k", "h", "w"), [(2, 5, 6), (4, 6, 5)])
def test_stride_one_input_gradient_with_uneven_same_padding(k, h, w):
    """Even kernels pad one pixel more after than before: the flipped-kernel path must mirror it."""
    layer = make_layer(k, 1, "same", cin=2, cout=3)
    x = np.random.default_rng(6).normal(size=(2, h, w, 2))
    assert gradcheck(layer, x)


@pytest.mark.parametrize("block_bytes", [1, 700, 1600])
@pytest.mark.parametrize(("k", "s", "padding", "h", "w"), [CONFIGS[0], CONFIGS[2], CONFIGS[5]])
def test_blocks_of_rows_and_of_images_give_the_same_result(
    monkeypatch, block_bytes, k, s, padding, h, w
):
    """Tiny blocks split each image into row blocks; middling ones group a few images."""
    x = np.random.default_rng(4).normal(size=(3, h, w, 2))
    whole = make_layer(k, s, padding, cin=2, cout=3)
    expected_out = whole.forward(x)
    g = np.random.default_rng(5).normal(size=expected_out.shape)
    expected_grad = whole.backward(g)
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_bytes)
    blocked = make_layer(k, s, padding, cin=2, cout=3)
    np.testing.assert_allclose(blocked.forward(x), expected_out, rtol=1e-12, atol=1e-12)
    assert sum(len(row_blocks) for _, row_blocks in blocked._blocks()) > 1
    np.testing.assert_allclose(blocked.backward(g), expected_grad, rtol=1e-12, atol=1e-12)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(
            blocked.params[name].grad, whole.params[name].grad, rtol=1e-12, atol=1e-12
        )
    assert gradcheck(blocked, x)


def test_same_padding_output_sizes():
    assert conv_geometry(7, 3, 2, "same") == (4, 1, 1)
    assert conv_geometry(8, 3, 2, "same") == (4, 0, 1)  # the odd pixel goes after
    assert conv_geometry(8, 3, 1, "same") == (8, 1, 1)
    assert conv_geometry(8, 3, 2, "valid") == (3, 0, 0)


def test_float32_by_default_and_input_cast():
    layer = Conv2D(1, 2, 3, random_state=0)
    assert layer.params["weight"].value.dtype == np.float32
    out = layer.forward(np.ones((1, 4, 4, 1)))  # float64 input
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def test_he_initialisation_variance():
    layer = Conv2D(16, 64, 3, random_state=0, dtype=np.float64)
    w = layer.params["weight"].value
    assert w.var() == pytest.approx(2.0 / (9 * 16), rel=0.05)
    assert not layer.params["bias"].value.any()


def test_input_grad_false_skips_the_input_gradient_but_not_the_parameters():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2))
    g = np.random.default_rng(1).normal(size=(2, 5, 5, 3))
    full, first = (
        Conv2D(2, 3, 3, random_state=4, dtype=np.float64, input_grad=flag) for flag in (True, False)
    )
    full.forward(x)
    full.backward(g)
    first.forward(x)
    assert first.backward(g) is None
    for name in ("weight", "bias"):
        np.testing.assert_allclose(first.params[name].grad, full.params[name].grad)


def test_gradients_accumulate_across_backward_calls():
    layer = make_layer(3, 1, "same")
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 3))
    g = np.ones((1, 4, 4, 4))
    layer.forward(x)
    layer.backward(g)
    once = layer.params["weight"].grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.params["weight"].grad, 2 * once)


def test_returned_gradient_is_not_reused_by_the_next_call():
    layer = make_layer(3, 1, "same")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 4, 3))
    layer.forward(x)
    first = layer.backward(rng.normal(size=(1, 4, 4, 4)))
    kept = first.copy()
    layer.forward(x)
    layer.backward(rng.normal(size=(1, 4, 4, 4)))
    np.testing.assert_array_equal(first, kept)


def test_eval_mode_forward_matches_training_forward():
    layer = make_layer(3, 2, "same")
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    train_out = layer.forward(x)
    assert layer._cols_bufs[0] is not None
    layer.eval()
    assert layer._cols_bufs == [None]  # scratch buffers are only kept while training
    np.testing.assert_array_equal(layer.forward(x), train_out)
    with pytest.raises(RuntimeError, match="training mode"):
        layer.backward(np.ones_like(train_out))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stride": 3}, "stride must be 1 or 2"),
        ({"padding": "full"}, "padding must be one of"),
        ({"kernel_size": 0}, "kernel_size must be a positive integer"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        Conv2D(**args)


def test_bad_inputs():
    layer = Conv2D(2, 1, 3)
    with pytest.raises(ValueError, match="4-D batch"):
        layer.forward(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="must have 2 channels"):
        layer.forward(np.zeros((1, 4, 4, 3)))
    with pytest.raises(TypeError, match="floating-point"):
        layer.forward(np.zeros((1, 4, 4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="at least 3 pixels"):
        Conv2D(2, 1, 3, padding="valid").forward(np.zeros((1, 2, 5, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2D(2, 1, 3).backward(np.zeros((1, 4, 4, 1)))
    layer.forward(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        layer.backward(np.zeros((1, 4, 4, 2)))


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    k=st.sampled_from([1, 2, 3]),
    s=st.sampled_from([1, 2]),
    padding=st.sampled_from(["same", "valid"]),
)
def test_shapes_and_values_for_random_geometry(h, w, k, s, padding):
    layer = make_layer(k, s, padding, cin=2, cout=2, seed=h * 10 + w)
    x = np.random.default_rng(h + w).normal(size=(1, h, w, 2))
    out = layer.forward(x)
    expected = direct_conv(x, layer.params["weight"].value, layer.params["bias"].value, s, padding)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert layer.backward(np.ones_like(out)).shape == x.shape


# --- PyTorch as an independent oracle -------------------------------------------------------


@pytest.mark.parametrize(("k", "s", "padding", "h", "w"), CONFIGS)
def test_values_and_gradients_match_torch(k, s, padding, h, w):
    torch = pytest.importorskip("torch")
    layer = make_layer(k, s, padding)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, h, w, 3))
    out = layer.forward(x)
    g = rng.normal(size=out.shape)
    gx = layer.backward(g)

    _, top, bottom = conv_geometry(h, k, s, padding)
    _, left, right = conv_geometry(w, k, s, padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(layer.params["weight"].value.transpose(3, 2, 0, 1), requires_grad=True)
    bt = torch.tensor(layer.params["bias"].value, requires_grad=True)
    yt = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (left, right, top, bottom)), wt, bt, stride=s
    )
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(out, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(
        layer.params["weight"].grad, wt.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12
    )
    np.testing.assert_allclose(layer.params["bias"].grad, bt.grad.numpy(), atol=1e-12)


def test_float32_benchmark_network_gradients_match_torch():
    """The network of benchmarks/bench_conv.py, in float32, to ~1e-5 relative."""
    torch = pytest.importorskip("torch")
    from bcekit.losses import binary_cross_entropy_with_logits_value_and_grad

    rng = np.random.default_rng(0)
    x = rng.random((4, 16, 16, 1), dtype=np.float32)
    y = (rng.random((4, 16, 16, 1)) > 0.5).astype(np.float32)
    convs = [
        Conv2D(1, 16, 3, random_state=1),
        Conv2D(16, 16, 3, random_state=2),
        Conv2D(16, 1, 1, random_state=3),
    ]
    a1 = convs[0].forward(x)
    a2 = convs[1].forward(np.maximum(a1, 0))
    z = convs[2].forward(np.maximum(a2, 0))
    value, g = binary_cross_entropy_with_logits_value_and_grad(z, y)
    g = convs[2].backward(g) * (a2 > 0)
    g = convs[1].backward(g) * (a1 > 0)
    convs[0].backward(g)

    tconvs = [
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.Conv2d(16, 1, 1),
    ]
    with torch.no_grad():
        for c, t in zip(convs, tconvs, strict=True):
            t.weight.copy_(torch.tensor(c.params["weight"].value.transpose(3, 2, 0, 1)))
            t.bias.copy_(torch.tensor(c.params["bias"].value))
    xt, yt = (torch.tensor(a.transpose(0, 3, 1, 2).copy()) for a in (x, y))
    zt = tconvs[2](torch.relu(tconvs[1](torch.relu(tconvs[0](xt)))))
    loss = torch.nn.functional.binary_cross_entropy_with_logits(zt, yt)
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=1e-5)
    for c, t in zip(convs, tconvs, strict=True):
        expected = t.weight.grad.numpy().transpose(2, 3, 1, 0)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(c.params["weight"].grad, expected, atol=1e-5 * scale)
        np.testing.assert_allclose(c.params["bias"].grad, t.bias.grad.numpy(), atol=1e-5 * scale)


# 700 bytes: blocks of rows; 1 MiB: blocks of whole images, which pad their own images.
@pytest.mark.parametrize("block_bytes", [700, 1 << 20])
@pytest.mark.parametrize(("k", "s", "padding", "h", "w"), [CONFIGS[0], CONFIGS[2], CONFIGS[5]])
def test_blocks_on_two_threads_give_the_results_of_one(
    monkeypatch, block_bytes, k, s, padding, h, w
):
    """Split over two threads (as SegmentationNet trains), outputs and gradients stay the same."""
    x = np.random.default_rng(6).normal(size=(4, h, w, 2))
    serial = make_layer(k, s, padding, cin=2, cout=3)
    expected_out = serial.forward(x)
    g = np.random.default_rng(7).normal(size=expected_out.shape)
    expected_grad = serial.backward(g)
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_bytes)
    threaded = make_layer(k, s, padding, cin=2, cout=3)
    with block_threads(2):
        out = threaded.forward(x)
        grad = threaded.backward(g)
        whole_images = all(len(rows) == 1 for _, rows in threaded._blocks(2))
    assert whole_images == (block_bytes > 700)
    assert len(threaded._cols_bufs) == 2  # each thread filled its own column buffer
    np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-12)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(
            threaded.params[name].grad, serial.params[name].grad, rtol=1e-12, atol=1e-12
        )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_the_block_threads_again():
    """The parent's pool threads do not exist in a forked child; the child makes its own."""
    x = np.random.default_rng(8).normal(size=(4, 6, 6, 2))
    layer = make_layer(3, 1, "same", cin=2, cout=3)
    with block_threads(2):
        expected = layer.forward(x)  # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the threaded forward finishes and agrees
        try:
            with block_threads(2):
                os._exit(0 if np.array_equal(layer.forward(x), expected) else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the block threads")


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    height=st.integers(1, 60),
    row_bytes=st.integers(1, 5000),
    parts=st.integers(1, 4),
    block_bytes=st.integers(1, 50_000),
)
def test_blocks_cover_every_row_once_in_balanced_shares(n, height, row_bytes, parts, block_bytes):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv, "BLOCK_BYTES", block_bytes)
        blocks = conv._blocks(n, height, row_bytes, parts)
    flat = conv._flat(blocks)
    covered = np.zeros((n, height), int)
    for images, rows in flat:
        covered[images, rows] += 1
    assert np.all(covered == 1)
    sizes = [(i.stop - i.start) * (r.stop - r.start) for i, r in flat]
    # Within the budget, unless one row alone is over it.
    assert max(sizes) == 1 or max(sizes) * row_bytes <= block_bytes
    # Equal shares but for the last one: of images, or of the rows of each image.
    chunks = [i.stop - i.start for i, _ in blocks]
    assert len(set(chunks[:-1])) <= 1 and chunks[-1] <= chunks[0]
    for _, row_blocks in blocks:
        lengths = [r.stop - r.start for r in row_blocks]
        assert len(set(lengths[:-1])) <= 1 and lengths[-1] <= lengths[0]
    if n * height >= parts:  # a share for every thread
        assert len(flat) >= parts
