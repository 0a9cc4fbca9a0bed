"""Segmentation losses: per-pixel BCE with ignored pixels, soft Dice, and BCE + Dice."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from bcekit.losses import binary_cross_entropy_with_logits
from bcekit.losses.segmentation import (
    BCEDiceLoss,
    PixelBCEWithLogits,
    SoftDiceLoss,
    bce_dice_loss,
    bce_dice_loss_value_and_grad,
    pixel_bce_with_logits,
    pixel_bce_with_logits_value_and_grad,
    soft_dice_loss,
    soft_dice_loss_value_and_grad,
)
from bcekit.nn.gradcheck import gradcheck


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 2.0, (3, 5, 4))
    targets = (rng.random((3, 5, 4)) > 0.6).astype(np.uint8)
    targets[0, 0, :] = 255
    targets[2, 3:, 1:] = 255
    return logits, targets


def dice_by_hand(logits, targets, smooth=1.0):
    """Per-image soft Dice from its definition, with a Python loop over images."""
    losses = []
    for z, t in zip(logits, targets, strict=True):
        keep = t != 255
        p, y = expit(z[keep]), t[keep].astype(float)
        losses.append(1.0 - (2.0 * np.sum(p * y) + smooth) / (np.sum(p) + np.sum(y) + smooth))
    return np.array(losses)


# --- values against independent formulas --------------------------------------------------


def test_dice_value_by_hand(batch):
    logits, targets = batch
    per_image = dice_by_hand(logits, targets)
    assert soft_dice_loss(logits, targets) == pytest.approx(per_image.mean(), rel=1e-12)
    assert soft_dice_loss(logits, targets, reduction="sum") == pytest.approx(per_image.sum())
    np.testing.assert_allclose(soft_dice_loss(logits, targets, reduction="none"), per_image)
    smooth = dice_by_hand(logits, targets, smooth=0.1).mean()
    assert soft_dice_loss(logits, targets, smooth=0.1) == pytest.approx(smooth, rel=1e-12)


def test_pixel_bce_equals_bce_over_labelled_pixels(batch):
    logits, targets = batch
    keep = targets != 255
    expected = binary_cross_entropy_with_logits(logits[keep], targets[keep].astype(float))
    assert pixel_bce_with_logits(logits, targets) == pytest.approx(expected, rel=1e-12)
    z, y = logits[keep], targets[keep]
    by_hand = np.mean(np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y))
    assert pixel_bce_with_logits(logits, targets) == pytest.approx(by_hand, rel=1e-12)


def test_bce_dice_is_the_weighted_sum(batch):
    logits, targets = batch
    expected = 0.3 * pixel_bce_with_logits(logits, targets, pos_weight=2.0) + 1.7 * soft_dice_loss(
        logits, targets
    )
    got = bce_dice_loss(logits, targets, bce_weight=0.3, dice_weight=1.7, pos_weight=2.0)
    assert got == pytest.approx(expected, rel=1e-12)


def test_perfect_prediction_has_zero_dice():
    targets = np.zeros((2, 4, 4))
    targets[0, 1:3, 1:3] = 1
    logits = np.where(targets == 1, np.inf, -np.inf)
    value, grad = soft_dice_loss_value_and_grad(logits, targets, smooth=0.0)
    assert value == 0.0
    assert np.isfinite(grad).all()


def test_dice_matches_torch(batch):
    torch = pytest.importorskip("torch")
    logits, targets = batch
    value, grad = soft_dice_loss_value_and_grad(logits, targets)
    z = torch.tensor(logits, requires_grad=True)
    keep = torch.tensor(targets != 255, dtype=torch.float64)
    t = torch.tensor(np.where(targets == 255, 0, targets), dtype=torch.float64)
    p = torch.sigmoid(z) * keep
    dice = 1 - (2 * (p * t).sum((1, 2)) + 1) / (p.sum((1, 2)) + (t * keep).sum((1, 2)) + 1)
    dice.mean().backward()
    assert value == pytest.approx(dice.mean().item(), rel=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), atol=1e-14)


# --- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dice_gradcheck(batch, reduction):
    logits, targets = batch
    weight = np.random.default_rng(1).random(logits.shape)

    def f(z):
        value, grad = soft_dice_loss_value_and_grad(
            z, targets, weight=weight, smooth=0.5, reduction=reduction
        )
        return float(np.sum(value)), grad

    assert gradcheck(f, logits)


def test_bce_dice_gradcheck_with_mask(batch):
    logits, targets = batch
    mask = np.random.default_rng(2).random(logits.shape) > 0.3

    def f(z):
        return bce_dice_loss_value_and_grad(z, targets, mask=mask, dice_weight=0.6, pos_weight=3.0)

    assert gradcheck(f, logits)


@pytest.mark.parametrize(
    "value_and_grad",
    [
        soft_dice_loss_value_and_grad,
        pixel_bce_with_logits_value_and_grad,
        bce_dice_loss_value_and_grad,
    ],
)
def test_ignored_pixels_get_zero_gradient_and_change_nothing(batch, value_and_grad):
    logits, targets = batch
    ignored = targets == 255
    value, grad = value_and_grad(logits, targets)
    assert not grad[ignored].any()
    assert grad[~ignored].any()
    moved = logits.copy()
    moved[ignored] += 100.0  # whatever the logits of ignored pixels are
    assert value_and_grad(moved, targets)[0] == pytest.approx(value, rel=1e-12)


def test_mask_and_ignore_value_agree(batch):
    logits, targets = batch
    clean = np.where(targets == 255, 0, targets)
    for f in (soft_dice_loss, pixel_bce_with_logits, bce_dice_loss):
        assert f(logits, targets) == pytest.approx(
            f(logits, clean, mask=targets != 255, ignore_value=None), rel=1e-12
        )


def test_all_pixels_ignored_gives_zero():
    logits = np.ones((2, 3, 3))
    targets = np.full((2, 3, 3), 255)
    for f in (soft_dice_loss_value_and_grad, bce_dice_loss_value_and_grad):
        value, grad = f(logits, targets)
        assert value == 0.0 and not grad.any()


def test_float32_in_float32_out(batch):
    logits, targets = batch
    value, grad = bce_dice_loss_value_and_grad(logits.astype(np.float32), targets)
    assert grad.dtype == np.float32
    assert value == pytest.approx(bce_dice_loss(logits, targets), rel=1e-5)


def test_float32_dice_gradient_matches_float64(batch):
    logits, targets = batch
    rng = np.random.default_rng(3)
    weight = rng.random(logits.shape)
    soft = np.where(targets == 255, 255, rng.random(logits.shape))
    for t in (targets, soft):
        _, grad64 = soft_dice_loss_value_and_grad(logits, t, weight=weight, reduction="none")
        _, grad32 = soft_dice_loss_value_and_grad(
            logits.astype(np.float32), t, weight=weight.astype(np.float32), reduction="none"
        )
        assert grad32.dtype == np.float32
        np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-6 * np.abs(grad64).max())


def test_bce_dice_value_and_grad_are_the_weighted_sums(batch):
    logits, targets = batch
    rng = np.random.default_rng(4)
    shared = {
        "weight": rng.random(logits.shape[1:]),
        "mask": rng.random(logits.shape[1:]) > 0.2,
    }
    per_pixel = targets[1]  # broadcast over the images, with ignored pixels
    bce, bce_grad = pixel_bce_with_logits_value_and_grad(
        logits, per_pixel, pos_weight=2.5, **shared
    )
    dice, dice_grad = soft_dice_loss_value_and_grad(logits, per_pixel, smooth=0.3, **shared)
    value, grad = bce_dice_loss_value_and_grad(
        logits, per_pixel, bce_weight=0.4, dice_weight=1.3, pos_weight=2.5, smooth=0.3, **shared
    )
    assert value == pytest.approx(0.4 * bce + 1.3 * dice, rel=1e-12)
    np.testing.assert_allclose(grad, 0.4 * bce_grad + 1.3 * dice_grad, rtol=1e-12, atol=1e-15)
    assert not grad[:, per_pixel == 255].any()


# --- classes ---------------------------------------------------------------------------------


def test_classes_match_functions(batch):
    logits, targets = batch
    for loss, f in (
        (SoftDiceLoss(smooth=0.5), lambda z, t: soft_dice_loss_value_and_grad(z, t, smooth=0.5)),
        (
            PixelBCEWithLogits(pos_weight=2.0),
            lambda z, t: pixel_bce_with_logits_value_and_grad(z, t, pos_weight=2.0),
        ),
        (
            BCEDiceLoss(dice_weight=0.5),
            lambda z, t: bce_dice_loss_value_and_grad(z, t, dice_weight=0.5),
        ),
    ):
        value, grad = loss.value_and_grad(logits, targets)
        expected_value, expected_grad = f(logits, targets)
        assert value == pytest.approx(expected_value, rel=1e-12)
        assert loss(logits, targets) == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


# --- errors ----------------------------------------------------------------------------------


def test_errors(batch):
    logits, targets = batch
    with pytest.raises(ValueError, match="targets must lie in \\[0, 1\\]"):
        soft_dice_loss(logits, np.full(logits.shape, 7))
    with pytest.raises(ValueError, match="ignore_value must be None or a finite number outside"):
        soft_dice_loss(logits, targets, ignore_value=1)
    with pytest.raises(ValueError, match="logits must not contain NaN"):
        soft_dice_loss(np.full(logits.shape, np.nan), targets)
    with pytest.raises(ValueError, match="logits must have at least 2 axes"):
        soft_dice_loss(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        soft_dice_loss(logits, targets, reduction="weighted_mean")
    with pytest.raises(ValueError, match="smooth must lie in"):
        SoftDiceLoss(smooth=-1.0)
    with pytest.raises(ValueError, match="dice_weight must lie in"):
        BCEDiceLoss(dice_weight=-0.5)
    with pytest.raises(ValueError, match="targets must broadcast"):
        bce_dice_loss(logits, targets[:, :2])
    with pytest.raises(ValueError, match=r"targets must broadcast to the shape of logits"):
        soft_dice_loss(logits, np.full((4, 5, 4), 255))
    with pytest.raises(ValueError, match="pos_weight must be >= 0"):
        bce_dice_loss(logits, targets, pos_weight=-1.0)
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        pixel_bce_with_logits(logits, targets, mask=np.ones(logits.shape))
