"""Labels on hand-built cases: areas, hulls, backgrounds, Gaussian widths, filters, alignment."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from temnn import Parameters, TemnnError
from temnn.simulate.geometry import ImageGeometry
from temnn.simulate.labels import (
    FWHM_PER_SIGMA,
    check_label_classes,
    disk_label,
    exitwave_label,
    gaussian_label,
    make_label,
    mask_label,
    resolve_mask_classes,
)


def params(label: str = "Disk", **kw) -> Parameters:
    kw.setdefault("image_size", (64, 64))
    kw.setdefault("sampling", (0.1, 0.1))
    return Parameters(label=label, **kw)


# ------------------------------------------------------------------------------- Disk
@pytest.mark.parametrize("sampling", [0.1, 0.0913])
def test_disc_area_is_pi_r_squared_on_average(sampling):
    # Averaged over sub-pixel positions, the number of pixel centres inside a disc of
    # radius r is exactly π r² (the Gauss circle problem in expectation).
    rng = np.random.default_rng(1)
    spotsize = 1.0
    p = params(num_classes=1, null_class=False, spotsize=spotsize)
    g = ImageGeometry(sampling=sampling, origin=(-0.37, 0.21), shape=(40, 40))
    sites = rng.uniform(1.0, 2.5, size=(400, 2))
    areas = [disk_label(site[None], [0], g, p)[0].sum() for site in sites]
    expected = math.pi * (spotsize / 2) ** 2 / sampling**2
    assert np.mean(areas) == pytest.approx(expected, rel=0.01)


def test_disk_channels_are_binary_per_class_and_background_sums_to_one():
    p = params(num_classes=4, null_class=True, spotsize=0.5)
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(64, 64))
    sites = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 4.0], [5.0, 5.0]])
    classes = np.array([0, 1, 2, 0])
    label = disk_label(sites, classes, g, p)
    assert label.shape == (4, 64, 64) and label.dtype == np.float32
    assert set(np.unique(label)) == {0.0, 1.0}
    np.testing.assert_array_equal(label.sum(axis=0), 1.0)  # discs do not overlap here
    assert label[0, 10, 10] == 1 and label[0, 50, 50] == 1 and label[1, 30, 10] == 1 and label[2, 10, 40] == 1
    assert label[3, 10, 10] == 0 and label[3, 20, 20] == 1
    # Each class channel holds only its own discs.
    assert label[1, 10, 10] == 0 and label[0, 30, 10] == 0


def test_overlapping_discs_of_two_classes_keep_background_in_zero_one():
    p = params(num_classes=3, null_class=True, spotsize=1.0)
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(40, 40))
    label = disk_label([[2.0, 2.0], [2.2, 2.0]], [0, 1], g, p)
    assert label[0, 21, 20] == label[1, 21, 20] == 1.0
    assert label[2].min() == 0.0 and label[2].max() == 1.0
    np.testing.assert_array_equal(label[2], 1.0 - np.clip(label[0] + label[1], 0, 1))


def test_disc_pixels_are_exactly_those_within_the_radius_of_the_hand_computed_centre():
    # Non-integer sampling ratio and a negative origin (a padded image).
    s, origin, site, spotsize = 0.0913, (-0.73, 0.41), (2.345, 1.789), 0.8
    g = ImageGeometry(sampling=s, origin=origin, shape=(64, 48))
    label = disk_label([site], [0], g, params(num_classes=1, null_class=False, spotsize=spotsize))[0]
    cx, cy = (site[0] - origin[0]) / s, (site[1] - origin[1]) / s  # 33.68…, 15.10…
    ix, iy = np.meshgrid(np.arange(64), np.arange(48), indexing="ij")
    expected = (ix - cx) ** 2 + (iy - cy) ** 2 <= (spotsize / 2 / s) ** 2
    np.testing.assert_array_equal(label.astype(bool), expected)


@settings(max_examples=40, deadline=None)
@given(
    sampling=st.floats(0.05, 0.2),
    origin=st.tuples(st.floats(-5, 5), st.floats(-5, 5)),
    frac=st.tuples(st.floats(15, 25), st.floats(15, 25)),
)
def test_disc_centroid_matches_pixel_position(sampling, origin, frac):
    g = ImageGeometry(sampling=sampling, origin=origin, shape=(40, 40))
    site = np.array(origin) + sampling * np.array(frac)
    p = params(num_classes=1, null_class=False, spotsize=16 * sampling)  # radius 8 px
    ix, iy = np.nonzero(disk_label([site], [0], g, p)[0])
    np.testing.assert_allclose([ix.mean(), iy.mean()], frac, atol=0.2)


def test_sites_outside_the_image_are_cut_at_the_border():
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(32, 32))
    p = params(num_classes=1, null_class=False, spotsize=1.0)
    label = disk_label([[0.0, 1.6], [-10.0, 1.0]], [0, 0], g, p)[0]
    # Half a disc of radius 5 px centred on the first row: rows 0..5.
    assert label[:6, 16].all() and not label[6:, 16].any()
    assert label.sum() == pytest.approx(math.pi * 25 / 2 + 5, abs=4)


def test_class_beyond_num_classes_is_a_clear_error():
    p = params(num_classes=3, null_class=True)
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(16, 16))
    with pytest.raises(TemnnError, match="num_classes"):
        disk_label([[0.5, 0.5]], [2], g, p)


# ---------------------------------------------------------------------------- Gaussian
def test_gaussian_peak_is_one_and_half_maximum_at_half_spotsize():
    spotsize, s = 1.0, 0.1
    p = params("Gaussian", num_classes=1, null_class=False, spotsize=spotsize)
    g = ImageGeometry(sampling=s, origin=(0.0, 0.0), shape=(64, 64))
    label = gaussian_label([[3.2, 3.0]], [0], g, p)[0]
    assert label[32, 30] == pytest.approx(1.0)
    assert label[32 + 5, 30] == pytest.approx(0.5, rel=1e-5)  # FWHM / 2 = 5 px
    assert label[32, 30 - 5] == pytest.approx(0.5, rel=1e-5)
    sigma = spotsize / FWHM_PER_SIGMA / s
    assert label.sum() == pytest.approx(2 * math.pi * sigma**2, rel=1e-4)


def test_gaussians_of_one_class_are_clipped_to_one_with_background():
    p = params("Gaussian", num_classes=2, null_class=True, spotsize=1.0)
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(40, 40))
    label = gaussian_label([[2.0, 2.0], [2.1, 2.0]], [0, 0], g, p)
    assert label[0].max() == 1.0 and label[0, 20, 20] == 1.0  # 1 + 0.96 clipped
    np.testing.assert_allclose(label.sum(axis=0), 1.0, atol=1e-6)


# -------------------------------------------------------------------------------- Mask
def test_mask_of_a_square_of_sites_fills_the_square():
    # Corners on half-pixel positions: pixels 11..30 along both axes lie inside.
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(40, 40))
    corners = np.array([[1.05, 1.05], [3.05, 1.05], [3.05, 3.05], [1.05, 3.05]])
    interior = np.random.default_rng(0).uniform(1.2, 2.9, size=(30, 2))
    sites = np.concatenate([interior, corners])
    label = mask_label(sites, np.zeros(len(sites), int), g, params("Mask", num_classes=1))
    expected = np.zeros((40, 40), np.float32)
    expected[11:31, 11:31] = 1
    assert label.shape == (1, 40, 40)
    np.testing.assert_array_equal(label[0], expected)


def test_mask_of_a_rotated_square_has_its_area_and_background():
    g = ImageGeometry(sampling=0.05, origin=(-1.0, -1.0), shape=(80, 80))
    r = 1.2  # diamond with half-diagonal r [Å] around (1, 1): area 2 r²
    sites = np.array([[1 + r, 1], [1, 1 + r], [1 - r, 1], [1, 1 - r], [1, 1]])
    label = mask_label(sites, np.zeros(5, int), g, params("Mask", num_classes=2, null_class=True))
    area_px = 2 * r**2 / g.sampling**2
    perimeter_px = 4 * math.sqrt(2) * r / g.sampling
    assert abs(label[0].sum() - area_px) < 0.5 * perimeter_px
    np.testing.assert_array_equal(label.sum(axis=0), 1.0)
    assert label[0, 40, 40] == 1 and label[0, 5, 5] == 0


def test_mask_uses_only_the_object_classes():
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(40, 40))
    particle = np.array([[1.05, 1.05], [2.05, 1.05], [2.05, 2.05], [1.05, 2.05]])
    support = np.array([[0.1, 0.1], [3.9, 0.1], [3.9, 3.9], [0.1, 3.9]])
    sites = np.concatenate([particle, support])
    classes = np.array([0] * 4 + [1] * 4)
    mask_classes = resolve_mask_classes(("particle", "support"))
    assert mask_classes == (0,)
    label = mask_label(sites, classes, g, params("Mask", num_classes=1), mask_classes=mask_classes)
    assert label.sum() == 100
    assert resolve_mask_classes(("1Mo", "2S", "1S")) == (0, 1, 2)
    assert resolve_mask_classes(("a", "b"), mask_classes=[1]) == (1,)


def test_mask_of_collinear_or_too_few_sites_is_empty():
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(20, 20))
    p = params("Mask", num_classes=1)
    assert mask_label([[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]], [0, 0, 0], g, p).sum() == 0
    assert mask_label([[0.5, 0.5]], [0], g, p).sum() == 0


# ------------------------------------------------------------------------------ classes
def test_check_label_classes_names_the_fix():
    p = params(num_classes=4, null_class=True)
    check_label_classes(p, ("1Mo", "2S", "1S"))
    with pytest.raises(TemnnError, match="set 'num_classes' to 3"):
        check_label_classes(p, ("particle", "support"), source="sites/00000.npz")
    with pytest.raises(TemnnError, match="no site classes"):
        check_label_classes(p, ())
    check_label_classes(params("Mask", num_classes=1), ())  # Mask needs no classes


def test_make_label_dispatches_on_the_label_name():
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(16, 16))
    sites, classes = np.array([[0.8, 0.8]]), np.array([0])
    for label, k in (("Disk", 2), ("Gaussian", 2), ("Mask", 1)):
        p = params(label, num_classes=k, null_class=True)
        out = make_label(p, g, sites=sites, classes=classes)
        assert out.shape == (p.output_channels, 16, 16)


# ---------------------------------------------------------------------------- Exitwave
def test_exitwave_label_on_the_wave_grid_is_the_wave():
    rng = np.random.default_rng(3)
    wave = (1 + 0.1 * rng.normal(size=(32, 40)) + 0.1j * rng.normal(size=(32, 40))).astype(np.complex64)
    g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(32, 40))
    label = exitwave_label(wave, 0.1, g, params("Exitwave"))
    assert label.shape == (2, 32, 40) and label.dtype == np.float32
    np.testing.assert_allclose(label[0] + 1j * label[1], wave, atol=2e-5)


def test_exitwave_label_outside_the_cell_is_vacuum():
    wave = np.full((16, 16), 0.5 + 0.5j, np.complex64)
    g = ImageGeometry(sampling=0.1, origin=(-0.5, 0.0), shape=(32, 16))  # 5 px left of the cell, 11 right
    label = exitwave_label(wave, 0.1, g, params("Exitwave", image_size=(32, 16)))
    vacuum = np.r_[0:5, 21:32]
    np.testing.assert_allclose(label[0, vacuum], 1.0, atol=1e-6)
    np.testing.assert_allclose(label[1, vacuum], 0.0, atol=1e-6)
    np.testing.assert_allclose(label[:, 5:21], 0.5, atol=1e-6)


def test_exitwave_filter_has_the_requested_sigma():
    # A delta on a periodic grid becomes a normalised Gaussian of σ [Å]: measure its
    # second moment <x²> = σ² along each axis (publication I: σ = 15 pm).
    s, sigma = 0.05, 0.15
    wave = np.zeros((64, 80), np.complex64)  # the filter is linear: a bare delta shows its kernel
    wave[20, 30] = 1.0
    g = ImageGeometry(sampling=s, origin=(0.0, 0.0), shape=(64, 80))
    label = exitwave_label(wave, s, g, params("Exitwave", exitwave_filter=sigma))
    assert abs(label[1]).max() < 1e-5
    w = label[0].astype(np.float64)
    assert w.sum() == pytest.approx(1.0, rel=1e-4)
    x = (np.arange(64) - 20) * s
    y = (np.arange(80) - 30) * s
    assert np.sqrt((w.sum(axis=1) * x**2).sum()) == pytest.approx(sigma, rel=2e-3)
    assert np.sqrt((w.sum(axis=0) * y**2).sum()) == pytest.approx(sigma, rel=2e-3)
    assert w[20, 30] == pytest.approx(s**2 / (2 * math.pi * sigma**2), rel=2e-3)


# --------------------------------------------------------------------------- alignment
def _peak_centre(field: np.ndarray) -> np.ndarray:
    """Sub-pixel position of the maximum: weighted centroid within 3 px of the brightest pixel."""
    i, j = np.unravel_index(np.argmax(field), field.shape)
    ix, iy = np.meshgrid(np.arange(field.shape[0]), np.arange(field.shape[1]), indexing="ij")
    near = (ix - i) ** 2 + (iy - j) ** 2 <= 9
    weight = np.where(near, np.clip(field - np.median(field[near]), 0, None), 0.0)
    return np.array([(weight * ix).sum(), (weight * iy).sum()]) / weight.sum()


@pytest.mark.parametrize("image_size", [(80, 72), (104, 96)], ids=["crop", "pad"])
def test_labels_line_up_with_the_image_of_a_single_column(image_size):
    import torch

    from temnn.simulate.draw import MicroscopeParameters
    from temnn.simulate.geometry import choose_geometry
    from temnn.simulate.images import form_images

    # One narrow phase bump ("column") at a known off-grid position in a 6.4 × 6.0 Å cell.
    ws, site = 0.05, np.array([3.137, 2.861])
    x = np.arange(128) * ws
    y = np.arange(120) * ws
    r2 = (x[:, None] - site[0]) ** 2 + (y[None, :] - site[1]) ** 2
    wave = np.exp(0.6j * np.exp(-r2 / (2 * 0.2**2))).astype(np.complex64)

    sampling = 0.0731  # not a multiple of the wave sampling
    # Defocus only: the bump images as a bright spot much stronger than its rings.
    micro = MicroscopeParameters(sampling=sampling, defocus=(-30.0,), energy=300e3)
    padded = image_size[0] * sampling > 128 * ws
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        geometry = choose_geometry(wave.shape, ws, sampling, image_size, rng=np.random.default_rng(7))
    assert any("vacuum" in str(w.message) for w in caught) == padded
    image = form_images(torch.from_numpy(wave)[None], ws, [micro], [geometry])[0, 0].numpy()
    expected = geometry.positions_to_pixels(site[None])[0]

    np.testing.assert_allclose(_peak_centre(image), expected, atol=0.2)

    p = params("Disk", image_size=image_size, num_classes=2, null_class=True, spotsize=12 * sampling)
    disc = disk_label(site[None], [0], geometry, p)[0]
    ix, iy = np.nonzero(disc)
    np.testing.assert_allclose([ix.mean(), iy.mean()], expected, atol=0.2)

    gauss = gaussian_label(site[None], [0], geometry, p.replace(label="Gaussian"))[0]
    np.testing.assert_allclose(_peak_centre(gauss), expected, atol=0.2)

    label = exitwave_label(wave, ws, geometry, params("Exitwave", image_size=image_size))
    np.testing.assert_allclose(_peak_centre(np.arctan2(label[1], label[0])), expected, atol=0.2)
