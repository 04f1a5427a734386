"""Labels on hand-built cases: areas, hulls, backgrounds, Gaussian widths, filters, alignment."""

from __future__ import annotations

import math

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
    fourier_gaussian_filter,
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
def test_fourier_gaussian_filter_has_the_requested_sigma():
    # A delta on a periodic grid becomes a normalised Gaussian of σ [Å]: measure its
    # second moment <x²> = σ² along each axis.
    s, sigma = 0.05, 0.15  # publication I: 15 pm
    field = np.zeros((64, 80), complex)
    field[20, 30] = 1.0
    out = fourier_gaussian_filter(field, s, sigma)
    assert abs(out.imag).max() < 1e-12
    w = out.real
    assert w.sum() == pytest.approx(1.0)
    x = (np.arange(64) - 20) * s
    y = (np.arange(80) - 30) * s
    assert np.sqrt((w.sum(axis=1) * x**2).sum()) == pytest.approx(sigma, rel=1e-3)
    assert np.sqrt((w.sum(axis=0) * y**2).sum()) == pytest.approx(sigma, rel=1e-3)
    assert w[20, 30] == pytest.approx(s**2 / (2 * math.pi * sigma**2), rel=1e-3)
