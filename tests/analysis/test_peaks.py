"""Column positions and classes from probability maps built with known centres."""

from __future__ import annotations

import numpy as np
import pytest

import temnn
from temnn.analysis.peaks import (Peaks, angstrom_to_pixels, assign_classes, find_peaks, pixels_to_angstrom,
                                  refine_peaks)
from temnn.errors import TemnnError

X, Y = np.mgrid[:64, :64]


def gaussian(cx: float, cy: float, sigma: float = 1.5, height: float = 1.0) -> np.ndarray:
    return height * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("method, window", [("gaussian", 3), ("com", 4)])
def test_subpixel_gaussian_centre(method, window):
    rng = np.random.default_rng(3)
    for cx, cy in rng.uniform(15, 45, (10, 2)):
        peaks = find_peaks(gaussian(cx, cy), refine=method, window=window)
        assert len(peaks) == 1
        assert np.hypot(*(peaks.positions[0] - (cx, cy))) < 0.05


def test_com_is_biased_in_a_narrow_window():
    # The reason "gaussian" is the default: a window narrower than ~3 sigma pulls the centre of mass.
    start = np.array([[20.0, 31.0]])
    image = gaussian(20.4, 30.6, sigma=2.5)
    com = refine_peaks(image, start, window=2, method="com")[0]
    fit = refine_peaks(image, start, window=2, method="gaussian")[0]
    assert np.hypot(*(com - (20.4, 30.6))) > 0.1
    assert np.hypot(*(fit - (20.4, 30.6))) < 1e-6


def test_min_spacing_and_threshold():
    two = gaussian(30, 30, sigma=1.0) + gaussian(30, 36, sigma=1.0, height=0.8)  # 6 px apart
    both = find_peaks(two, sampling=0.5, min_spacing=2.5)
    assert len(both) == 2
    assert np.hypot(*(both.positions[0] - both.positions[1])) >= 5
    close = find_peaks(two, sampling=0.5, min_spacing=3.5)
    assert len(close) == 1 and close.positions[0] == pytest.approx([30, 30], abs=0.05)  # the higher one is kept
    weak = gaussian(20, 20, height=0.4) + gaussian(45, 45)
    assert len(find_peaks(weak, threshold=0.5)) == 1
    found = find_peaks(weak, threshold=0.3)
    assert len(found) == 2 and found.values.tolist() == pytest.approx([1.0, 0.4], abs=1e-6)  # most probable first
    rng = np.random.default_rng(0)
    noisy = rng.random((64, 64))
    pixels = find_peaks(noisy, sampling=0.5, min_spacing=2.0, threshold=0.2, refine="none").positions
    d = np.hypot(*(pixels[:, None] - pixels[None]).transpose(2, 0, 1))
    assert len(pixels) > 20 and d[np.triu_indices(len(pixels), 1)].min() >= 4
    assert noisy[pixels[:, 0].astype(int), pixels[:, 1].astype(int)].min() >= 0.2


def test_flat_disc_gives_one_peak():
    # A binary Disk label is a plateau: skimage's peak_local_max returns several of its pixels.
    disc = (np.hypot(X - 20.3, Y - 30.6) <= 6).astype(float)
    peaks = find_peaks(disc, sampling=0.5, min_spacing=1.5)
    assert len(peaks) == 1
    assert np.hypot(*(peaks.positions[0] - (20.3, 30.6))) < 0.5


def test_classes_with_and_without_background():
    centres = [(15.0, 15.0), (15.0, 45.0), (45.0, 30.0)]
    classes = np.stack([gaussian(*c) for c in centres])  # class k at centre k
    background = np.clip(1 - classes.sum(0), 0, 1)
    last = np.concatenate([classes, background[None]])
    first = np.concatenate([background[None], classes])
    for maps, bg in ((last, -1), (last, 3), (first, 0), (classes, None)):
        peaks = temnn.find_peaks(maps, background=bg)
        order = np.argsort(peaks.positions[:, 0] * 100 + peaks.positions[:, 1])
        assert peaks.classes[order].tolist() == [0, 1, 2]
        assert peaks.positions[order] == pytest.approx(np.array(centres), abs=0.05)
    with pytest.raises(TemnnError, match="background"):
        find_peaks(classes, background=5)


def test_empty_map_and_bad_input():
    assert len(find_peaks(np.zeros((16, 16)))) == 0
    with pytest.raises(TemnnError, match="prob"):
        find_peaks(np.zeros((2, 3, 4, 5)))
    with pytest.raises(TemnnError, match="refine"):
        find_peaks(gaussian(30, 30), refine="spline")


def test_unit_conversion_and_site_classes():
    sites_angstrom = np.array([[1.0, 2.0], [3.0, 0.5]])
    px = angstrom_to_pixels(sites_angstrom, 0.05)
    assert px == pytest.approx(np.array([[20.0, 40.0], [60.0, 10.0]]))
    assert pixels_to_angstrom(px, 0.05) == pytest.approx(sites_angstrom)
    assert Peaks.from_positions(px).angstrom(0.05) == pytest.approx(sites_angstrom)
    found = assign_classes(np.array([[21.0, 39.0], [59.0, 12.0], [0.0, 0.0]]), px, [4, 7], radius=3)
    assert found.tolist() == [4, 7, -1]
    with pytest.raises(TemnnError, match="sampling"):
        pixels_to_angstrom(px, 0)
