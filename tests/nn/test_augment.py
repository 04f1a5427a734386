"""Augmentations: image and label stay aligned; intensity changes follow eqs. 3.2-3.4; seeded draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from temnn import TemnnError
from temnn._random import sample_rng
from temnn.nn.augment import NO_AUGMENTATION, Augmentation, AugmentationDraw, apply_geometry, apply_intensity


def pixel_map(image: np.ndarray) -> np.ndarray:
    """A label made from the image pixel by pixel (two channels from two image channels)."""
    return np.stack([image[0] ** 2 + 3 * image[1], (image[0] > 0.5).astype(np.float64)])


@pytest.mark.parametrize("flip_rows,flip_cols,quarter_turns", itertools.product((False, True), (False, True), range(4)))
def test_geometry_keeps_image_and_label_aligned(flip_rows, flip_cols, quarter_turns):
    image = np.random.default_rng(0).random((2, 6, 6))
    draw = AugmentationDraw(flip_rows=flip_rows, flip_cols=flip_cols, quarter_turns=quarter_turns)
    moved_image, moved_label = apply_geometry(image, draw), apply_geometry(pixel_map(image), draw)
    np.testing.assert_array_equal(moved_label, pixel_map(moved_image))
    assert moved_image.flags.c_contiguous
    # it is a permutation of the pixels, and a non-trivial one unless the draw is the identity
    np.testing.assert_array_equal(np.sort(moved_image, axis=None), np.sort(image, axis=None))
    identity = (flip_rows, flip_cols, quarter_turns) in {(False, False, 0), (True, True, 2)}  # 2 flips = 180°
    assert np.array_equal(moved_image, image) == identity


def test_quarter_turn_direction_matches_numpy():
    image = np.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(apply_geometry(image, AugmentationDraw(quarter_turns=1)), np.rot90(image, 1, (1, 2)))


def test_draws_come_from_seed_epoch_and_index():
    aug = Augmentation()
    first = aug.draw(rng=sample_rng(3, 7, 1, stage="augment"), square=True)
    assert first == aug.draw(rng=sample_rng(3, 7, 1, stage="augment"), square=True)
    others = {aug.draw(rng=sample_rng(3, 7, e, stage="augment"), square=True) for e in range(2, 12)}
    assert first not in others
    assert all(
        d.quarter_turns == 0 for d in (aug.draw(rng=sample_rng(3, i, 0, stage="augment"), square=False) for i in range(20))
    )
    for d in others:
        assert -0.1 <= d.brightness <= 0.1 and 0.9 <= d.contrast <= 1.1 and 0.9 <= d.gamma <= 1.1
    assert NO_AUGMENTATION.draw(rng=np.random.default_rng(0), square=True) == AugmentationDraw()


def test_brightness_and_contrast_eqs_3_2_and_3_3():
    images = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    shifted = apply_intensity(images, torch.tensor([[0.25, 1.0, 1.0], [-0.5, 1.0, 1.0]]))
    torch.testing.assert_close(shifted - images, torch.tensor([0.25, -0.5]).view(2, 1, 1, 1).expand_as(images).double())
    stretched = apply_intensity(images, torch.tensor([[0.0, 1.5, 1.0], [0.0, 0.5, 1.0]]))
    mean = images.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(stretched, (images - mean) * torch.tensor([1.5, 0.5]).view(2, 1, 1, 1).double() + mean)


def test_gamma_keeps_range_and_order():
    images = torch.rand(1, 2, 16, 16, dtype=torch.float64) * 4 - 1
    out = apply_intensity(images, torch.tensor([[0.0, 1.0, 2.0]]))
    torch.testing.assert_close(out.amin(dim=(2, 3)), images.amin(dim=(2, 3)))
    torch.testing.assert_close(out.amax(dim=(2, 3)), images.amax(dim=(2, 3)))
    low, span = images.amin(dim=(2, 3), keepdim=True), images.amax(dim=(2, 3), keepdim=True) - images.amin(
        dim=(2, 3), keepdim=True
    )
    torch.testing.assert_close(out, low + span * ((images - low) / span) ** 2)
    torch.testing.assert_close(apply_intensity(images, torch.tensor([[0.0, 1.0, 1.0]])), images)
    flat = apply_intensity(torch.zeros(1, 1, 4, 4), torch.tensor([[0.0, 2.0, 0.5]]))
    assert torch.isfinite(flat).all() and (flat == 0).all()


def test_bad_ranges():
    with pytest.raises(TemnnError, match="'contrast' must be a \\(low, high\\) pair"):
        Augmentation(contrast=(1.2, 0.8))
    with pytest.raises(TemnnError, match="'gamma' must be > 0"):
        Augmentation(gamma=(0.0, 1.0))
    with pytest.raises(TemnnError, match="unknown augmentation \\['blur'\\]"):
        Augmentation.from_dict({"blur": [0, 1]})
    assert Augmentation.from_dict(Augmentation(flips=False).to_dict()) == Augmentation(flips=False)
