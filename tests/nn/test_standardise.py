"""Local standardisation (thesis eq. 3.1) against a scipy real-space reference and hand-made images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from temnn import TemnnError
from temnn.nn.standardise import gaussian_blur, local_standardise, standardisation_sigma


def reference_standardise(images: np.ndarray, sigma: float) -> np.ndarray:
    """Eq. 3.1 (local standard deviation) in real space with scipy, one series (C, H, W)."""

    def blur(a: np.ndarray) -> np.ndarray:
        return scipy.ndimage.gaussian_filter(a, sigma, mode="reflect", truncate=12)

    mean = blur(images.mean(axis=0))
    spread = np.mean([np.sqrt(blur((c - mean) ** 2)) for c in images], axis=0)
    return (images - mean) / spread


@settings(max_examples=15, deadline=None)
@given(
    rows=st.integers(8, 40),
    cols=st.integers(8, 40),
    sigma=st.floats(2.0, 60.0),
)
def test_gaussian_blur_matches_scipy_reflect(rows, cols, sigma):
    rng = np.random.default_rng(rows * 100 + cols)
    image = rng.normal(size=(1, 2, rows, cols))
    expected = np.stack([scipy.ndimage.gaussian_filter(c, sigma, mode="reflect", truncate=12) for c in image[0]])
    np.testing.assert_allclose(gaussian_blur(torch.from_numpy(image), sigma)[0].numpy(), expected, atol=1e-7)


def test_matches_real_space_reference_per_sample_sigma():
    rng = np.random.default_rng(0)
    images = 1 + 0.3 * rng.normal(size=(3, 2, 48, 40))
    sigma = np.array([3.0, 8.0, 25.0])
    out = local_standardise(torch.from_numpy(images), torch.from_numpy(sigma)).numpy()
    for b in range(3):
        np.testing.assert_allclose(out[b], reference_standardise(images[b], sigma[b]), rtol=1e-4, atol=1e-4)
    single = local_standardise(torch.from_numpy(images[1]).float(), float(sigma[1]))
    np.testing.assert_allclose(single.numpy(), out[1], atol=1e-4)


def test_constant_and_empty_images_give_zero():
    for value in (0.0, 0.7, 1e4):
        out = local_standardise(torch.full((2, 3, 32, 32), value), 5.0)
        assert torch.isfinite(out).all() and out.abs().max() < 1e-6


def test_slowly_varying_illumination_is_removed():
    # a·x + b background with a fine lattice whose amplitude also drifts: locally mean 0, std 1
    x, y = np.meshgrid(np.arange(128.0), np.arange(128.0), indexing="ij")
    lattice = np.sin(2 * np.pi * x / 5) * np.cos(2 * np.pi * y / 7)
    image = (3 + 0.02 * x) + (0.5 + 0.003 * y) * lattice
    out = local_standardise(torch.from_numpy(image)[None, None], 8.0)[0, 0].numpy()
    for window in (np.s_[30:65, 30:65], np.s_[60:95, 40:75]):
        assert abs(out[window].mean()) < 0.05
        assert out[window].std() == pytest.approx(1.0, abs=0.05)


def test_saturated_and_empty_regions_stay_finite():
    rng = np.random.default_rng(1)
    image = 1 + 0.2 * rng.normal(size=(2, 64, 64))
    image[:, :20, :] = 50.0  # saturated band
    image[:, 40:, 40:] = 0.0  # empty corner
    out = local_standardise(torch.from_numpy(image).float(), 3.0).numpy()
    assert np.isfinite(out).all() and np.abs(out).max() < 10
    assert np.abs(out[:, :5, :]).max() < 0.01  # deep inside the flat band: 0, not round-off blown up
    textured = np.s_[:, 26:36, :30]  # ≥ 2σ from the band and the corner
    np.testing.assert_allclose(out[textured], reference_standardise(image, 3.0)[textured], atol=1e-3)


def test_commutes_with_flips_and_rotations():
    images = torch.rand(1, 2, 24, 24, dtype=torch.float64)
    out = local_standardise(images, 6.0)
    torch.testing.assert_close(local_standardise(images.flip(-1), 6.0), out.flip(-1))
    torch.testing.assert_close(local_standardise(images.rot90(1, (-2, -1)), 6.0), out.rot90(1, (-2, -1)))


def test_sigma_from_angstrom():
    assert standardisation_sigma(12.0, 0.1) == pytest.approx(120.0)
    with pytest.raises(TemnnError, match="must be > 0 pixels"):
        local_standardise(torch.ones(1, 1, 8, 8), 0.0)
