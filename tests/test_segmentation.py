"""SegmentationNet: learning on synthetic shapes, inputs, ignore masks, files, and reports."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from sklearn.base import clone

from bcekit.data.shapes import make_shapes
from bcekit.estimators.segmentation import DihedralAugment, SegmentationNet, train_on_nuclei
from bcekit.nn.conv import Conv2D
from bcekit.nn.gradcheck import gradcheck
from bcekit.nn.unet import UNet
from bcekit.plots.masks import dice_scores, iou_scores, segment_report

TINY = {"depth": 1, "base_width": 2, "max_iter": 1, "batch_size": 8, "random_state": 0}


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(24, size=16, random_state=1)


@pytest.fixture(scope="module")
def tiny_model(shapes):
    images, masks = shapes
    return SegmentationNet(**TINY).fit(images, masks)


# --- the proof: it learns ---------------------------------------------------------------------


@pytest.mark.slow
def test_learns_shapes_to_held_out_iou_of_085():
    images, masks = make_shapes(500, size=48, random_state=0)
    net = SegmentationNet(
        depth=2, base_width=8, max_iter=6, learning_rate=0.01, loss="bce+dice", random_state=0
    )
    net.fit(images[:400], masks[:400])
    held_out = net.score(images[400:], masks[400:])
    assert held_out >= 0.85
    assert held_out == pytest.approx(iou_scores(masks[400:], net.predict(images[400:])).mean())
    losses = [r["train_loss"] for r in net.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert {"epoch", "train_loss", "val_loss", "val_iou", "val_dice"} <= set(net.history_[0])


# --- predictions --------------------------------------------------------------------------


def test_prediction_shapes_dtypes_and_consistency(tiny_model, shapes):
    images, _ = shapes
    logits = tiny_model.decision_function(images[:5])
    proba = tiny_model.predict_proba(images[:5])
    pred = tiny_model.predict(images[:5])
    assert logits.shape == proba.shape == pred.shape == (5, 16, 16)
    assert proba.dtype == np.float32 and pred.dtype == np.uint8
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-5)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(np.uint8))
    stricter = clone(tiny_model).set_params(threshold=0.9)
    stricter.network_, stricter.n_channels_in_ = tiny_model.network_, 1
    assert stricter.predict(images[:5]).sum() <= pred.sum()


def test_same_seed_same_model(shapes):
    images, masks = shapes
    a = SegmentationNet(**TINY).fit(images, masks).predict_proba(images[:3])
    b = SegmentationNet(**TINY).fit(images, masks).predict_proba(images[:3])
    np.testing.assert_array_equal(a, b)


def test_sizes_that_are_not_multiples_of_two_to_the_depth():
    images, masks = make_shapes(12, size=18, random_state=2)
    images, masks = images[:, :, :17], masks[:, :, :17]
    net = SegmentationNet(**{**TINY, "depth": 2}).fit(images, masks)
    assert net.predict(images).shape == (12, 18, 17)


def test_several_channels(shapes):
    images, masks = shapes
    rgb = np.stack([images, 1 - images, images**2], axis=-1)
    net = SegmentationNet(**TINY).fit(rgb, masks)
    assert net.n_channels_in_ == 3
    assert net.predict(rgb[:2]).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="must have 3 channel"):
        net.predict(images[:2])


def test_three_d_and_four_d_single_channel_inputs_agree(tiny_model, shapes):
    images, _ = shapes
    np.testing.assert_array_equal(
        tiny_model.predict_proba(images[:2]), tiny_model.predict_proba(images[:2, ..., None])
    )


# --- training details ---------------------------------------------------------------------


def test_early_stopping_ends_training(shapes):
    images, masks = shapes
    net = SegmentationNet(**{**TINY, "max_iter": 20}, n_iter_no_change=1, tol=10.0).fit(
        images, masks
    )
    assert net.n_iter_ == 2  # the first epoch improves on nothing; the second fails by 10


def test_no_validation_split_without_early_stopping(shapes):
    images, masks = shapes
    net = SegmentationNet(**{**TINY, "max_iter": 2}, early_stopping=False).fit(images, masks)
    assert net.n_iter_ == 2
    assert all(r.get("val_loss") is None for r in net.history_)


def test_cosine_schedule_decays_per_batch_to_zero_and_constant_keeps_the_rate(shapes):
    images, masks = shapes  # 24 images, 8 per batch: 3 steps an epoch without early stopping
    settings = {**TINY, "max_iter": 3, "learning_rate": 0.02, "early_stopping": False}
    cosine = SegmentationNet(**settings).fit(images, masks)
    # The record's rate is the one of the epoch's last step s = 3k - 1 of S = 9.
    expected = [0.01 * (1 + np.cos(np.pi * (3 * k - 1) / 9)) for k in (1, 2, 3)]
    np.testing.assert_allclose([r["lr"] for r in cosine.history_], expected, rtol=1e-12)
    constant = SegmentationNet(**settings, lr_schedule="constant").fit(images, masks)
    assert [r["lr"] for r in constant.history_] == [0.02] * 3


def test_balanced_pos_weight_counts_only_labelled_pixels(shapes):
    images, masks = shapes
    masks = masks.copy()
    masks[:, :4, :] = 255
    net = SegmentationNet(**TINY, pos_weight="balanced", early_stopping=False).fit(images, masks)
    labelled = masks[masks != 255]
    expected = np.count_nonzero(labelled == 0) / np.count_nonzero(labelled == 1)
    assert net.pos_weight_ == pytest.approx(expected)


def test_score_leaves_ignored_pixels_out(tiny_model, shapes):
    images, masks = shapes
    masks = masks.copy()
    masks[:, :, :5] = 255
    pred = tiny_model.predict(images)
    keep = masks[:, :, 5:]
    expected = iou_scores(keep, pred[:, :, 5:]).mean()
    assert tiny_model.score(images, masks) == pytest.approx(expected)


def test_loss_choice_and_pos_weight_number(shapes):
    images, masks = shapes
    net = SegmentationNet(**TINY, loss="bce+dice", dice_weight=0.5, pos_weight=2.0).fit(
        images, masks
    )
    assert net.pos_weight_ == 2.0
    assert np.isfinite(net.history_[0]["train_loss"])


def test_bilinear_decoder(shapes):
    images, masks = shapes
    net = SegmentationNet(**TINY, upsample="bilinear").fit(images, masks)
    assert net.network_.ups[0].mode == "bilinear"


# --- augmentation -------------------------------------------------------------------------


def test_augmentation_undoes_itself_for_an_equivariant_net():
    conv = Conv2D(1, 2, 1, random_state=0, dtype=np.float64)
    aug = DihedralAugment(conv, random_state=0)
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 1))
    expected = conv.forward(x)
    seen = set()
    for _ in range(40):
        np.testing.assert_allclose(aug.forward(x), expected, atol=1e-14)
        seen.add((aug._turns, aug._flip))
    assert len(seen) == 8


def test_augmentation_transforms_what_the_net_sees():
    net = UNet(1, depth=1, base_width=2, random_state=0, dtype=np.float64)
    aug = DihedralAugment(net, random_state=3)
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 1))
    outputs = {aug.forward(x).tobytes() for _ in range(30)}
    assert len(outputs) > 1  # a U-Net is not rotation invariant
    aug.eval()
    np.testing.assert_array_equal(aug.forward(x), net.forward(x))


class _FixedDraws:
    """Stands in for the augmentation's generator: always the same turn and flip."""

    def __init__(self, turns, flip):
        self.values = [turns, flip]

    def integers(self, high):
        value = self.values.pop(0)
        self.values.append(value)
        return value


@pytest.mark.parametrize(("turns", "flip"), [(1, 0), (2, 1), (3, 1)])
def test_augmentation_gradcheck(turns, flip):
    net = UNet(1, depth=1, base_width=2, random_state=0, dtype=np.float64)
    rng = np.random.default_rng(5)
    for name, p in net.named_parameters():
        if name.endswith("bias"):
            p.value[:] = rng.normal(0.0, 0.5, p.value.shape)
    aug = DihedralAugment(net)
    aug._rng = _FixedDraws(turns, flip)
    assert gradcheck(aug, rng.normal(size=(1, 4, 6, 1)))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "masks", "error", "match"),
    [
        (np.zeros((4, 8)), np.zeros((4, 8)), ValueError, "images must have shape"),
        (np.zeros((4, 8, 8)), np.zeros((4, 8, 9)), ValueError, "masks must have shape"),
        (np.zeros((4, 8, 8)), np.full((4, 8, 8), 2), ValueError, "masks must hold only"),
        (np.full((4, 8, 8), np.nan), np.zeros((4, 8, 8)), ValueError, "images must be finite"),
        (np.full((4, 8, 8), "a"), np.zeros((4, 8, 8)), TypeError, "images must hold numbers"),
        (np.zeros((4, 8, 8)), np.full((4, 8, 8), 255), ValueError, "at least one pixel"),
    ],
)
def test_bad_data(images, masks, error, match):
    with pytest.raises(error, match=match):
        SegmentationNet(**TINY).fit(images, masks)


def test_bad_parameters(shapes):
    images, masks = shapes
    with pytest.raises(ValueError, match="'loss' parameter"):
        SegmentationNet(loss="dice").fit(images, masks)
    with pytest.raises(ValueError, match="ignore_value must be None or a number outside"):
        SegmentationNet(ignore_value=1).fit(images, masks)
    with pytest.raises(ValueError, match="increase 'validation_fraction'"):
        SegmentationNet(**TINY).fit(images[:3], masks[:3])
    with pytest.raises(ValueError, match="needs both foreground and background"):
        SegmentationNet(**TINY, pos_weight="balanced").fit(images, np.zeros_like(masks))


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SegmentationNet().predict(np.zeros((1, 8, 8)))


# --- saving -------------------------------------------------------------------------------


def test_state_round_trip_rebuilds_the_same_model(tiny_model, shapes):
    images, _ = shapes
    params = tiny_model.get_params()
    arrays = tiny_model._state_arrays()
    meta = {"extra": tiny_model._state_meta(), "history_": tiny_model.history_}
    rebuilt = SegmentationNet._from_state(params, arrays, meta)
    np.testing.assert_array_equal(
        rebuilt.predict_proba(images[:3]), tiny_model.predict_proba(images[:3])
    )
    arrays["head.weight"] = arrays["head.weight"][..., :0]
    with pytest.raises(ValueError, match=r"head\.weight"):
        SegmentationNet._from_state(params, arrays, meta)


def test_save_and_load_with_bcekit_io(tiny_model, shapes, tmp_path):
    from bcekit import io

    images, _ = shapes
    io.save(tiny_model, tmp_path / "net")
    loaded = io.load(tmp_path / "net")
    np.testing.assert_array_equal(loaded.predict(images[:3]), tiny_model.predict(images[:3]))
    assert loaded.history_ == tiny_model.history_


def test_batch_norm_keeps_running_statistics_and_predicts_per_image(shapes, tmp_path):
    from bcekit import io

    images, masks = shapes
    net = SegmentationNet(**TINY, batch_norm=True).fit(images, masks)
    buffers = dict(net.network_.named_buffers())
    assert len(buffers) == 2 * 2 * 3  # mean and variance, 2 per block, 3 blocks
    for name, values in buffers.items():  # moved away from their initial zeros and ones
        assert np.any(values != (1.0 if name.endswith("running_var") else 0.0)), name
    alone = net.predict_proba(images[:2])
    in_a_batch = net.predict_proba(images[:10])[:2]
    np.testing.assert_allclose(alone, in_a_batch, rtol=1e-5, atol=1e-6)

    io.save(net, tmp_path / "bn")
    loaded = io.load(tmp_path / "bn")
    assert loaded.batch_norm is True
    np.testing.assert_array_equal(loaded.predict_proba(images[:4]), net.predict_proba(images[:4]))


# --- metrics and report ---------------------------------------------------------------------


def test_iou_and_dice_by_hand():
    truth = np.array([[[1, 1, 0, 255]], [[0, 0, 0, 0]], [[1, 0, 0, 0]]])
    pred = np.array([[[1, 0, 1, 1]], [[0, 0, 0, 0]], [[0, 1, 0, 0]]])
    np.testing.assert_allclose(iou_scores(truth, pred), [1 / 3, 1.0, 0.0])
    np.testing.assert_allclose(dice_scores(truth, pred), [2 / 4, 1.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        iou_scores(truth, pred[:, :, :2])


def test_segment_report_writes_overlays_and_metrics(tiny_model, shapes, tmp_path):
    images, masks = shapes
    result = segment_report(tiny_model, images[:5], masks[:5], tmp_path / "report", max_images=3)
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert written == result["metrics"]
    assert written["mean_iou"] == pytest.approx(tiny_model.score(images[:5], masks[:5]))
    png = (tmp_path / "report" / "overlays.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    perfect = segment_report(masks[:4].astype(float), images[:4], masks[:4], tmp_path / "p")
    assert perfect["metrics"]["mean_iou"] == 1.0 and perfect["metrics"]["mean_dice"] == 1.0


# --- the nuclei example ---------------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("stardist") is None or importlib.util.find_spec("tifffile") is None,
    reason="nuclei data need `pip install --no-deps stardist` and `pip install tifffile`",
)
def test_train_on_nuclei_reports_iou_and_dice():
    lines = []
    model, metrics = train_on_nuclei(
        patch_size=32, stride=32, echo=lines.append, max_iter=1, depth=1, base_width=2
    )
    assert metrics["n_train"] == 16 * 12 and metrics["n_val"] == 16 * 4
    assert 0.0 <= metrics["val_iou"] <= metrics["val_dice"] <= 1.0
    assert len(lines) == 1 and "validation IoU" in lines[0]
    assert isinstance(model, SegmentationNet)
