"""Lengths in Å: the same physical spacing finds the same peaks and particles at any sampling, and the
old pixel and nm spellings keep their old results with a DeprecationWarning (temnn.units.length_in_pixels)."""

from __future__ import annotations

import numpy as np
import pytest

import temnn
from temnn.analysis.argand import argand_points
from temnn.analysis.instances import label_instances, min_separation_pixels
from temnn.analysis.peaks import find_peaks, regional_maxima
from temnn.analysis.simulated import SimulatedData
from temnn.analysis.tracking import track
from temnn.errors import TemnnError
from temnn.units import length_in_pixels
from temnn.workflows.evaluate import _spacing

from ._simulated_sets import SAMPLING, Oracle, write_set

SEPARATION = 3.0  # [Å] between the two peaks
WIDTH = 0.4  # Gaussian σ of a peak [Å]


def two_peaks(sampling: float) -> tuple[np.ndarray, np.ndarray]:
    """A 6 × 4 nm map with two Gaussian peaks 3 Å apart along x, and their positions [Å]."""
    x, y = np.mgrid[: int(round(60 / sampling)), : int(round(40 / sampling))] * sampling
    centres = np.array([[25.0, 20.0], [25.0 + SEPARATION, 20.0]])
    image = sum(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * WIDTH**2)) * h
                for (cx, cy), h in zip(centres, (1.0, 0.8)))
    return image, centres


@pytest.mark.parametrize("sampling", [0.1, 0.2])
def test_a_spacing_in_angstrom_resolves_or_merges_two_peaks_3_angstrom_apart_at_any_sampling(sampling):
    image, centres = two_peaks(sampling)
    resolved = find_peaks(image, sampling=sampling, min_spacing=2.0)
    merged = find_peaks(image, sampling=sampling, min_spacing=4.0)
    assert len(resolved) == 2 and len(merged) == 1
    np.testing.assert_allclose(resolved.angstrom(sampling), centres, atol=0.01)
    np.testing.assert_allclose(merged.angstrom(sampling), centres[:1], atol=0.01)  # the higher one is kept
    # The same as the pixel value converted by hand (the deprecated spelling, which warns).
    for spacing, found in ((2.0, resolved), (4.0, merged)):
        with pytest.warns(DeprecationWarning, match="min_spacing= in Å"):
            by_hand = find_peaks(image, min_distance=spacing / sampling)
        np.testing.assert_array_equal(by_hand.positions, found.positions)
        maxima = regional_maxima(image, sampling=sampling, min_spacing=spacing)
        assert len(maxima[1]) == len(found)
        with pytest.warns(DeprecationWarning, match="regional_maxima: min_distance="):
            old = regional_maxima(image, min_distance=spacing / sampling)
        for new_part, old_part in zip(maxima, old):
            np.testing.assert_array_equal(new_part, old_part)
    wave = 1 + 0.2j * image
    assert len(argand_points(wave, sampling=sampling, min_spacing=2.0)) == 2
    assert len(argand_points(wave, sampling=sampling, min_spacing=4.0)) == 1
    with pytest.warns(DeprecationWarning, match="argand_points: min_distance="):
        old = argand_points(wave, min_distance=4.0 / sampling)
    assert len(old) == 1


@pytest.mark.parametrize("sampling", [0.25, 0.5])
def test_particle_spacing_in_angstrom_and_the_nm_alias(sampling):
    # Two overlapping discs of radius 12 Å, 20 Å apart: split with a 15 Å spacing, one with 25 Å.
    x, y = np.mgrid[: int(80 / sampling), : int(60 / sampling)] * sampling
    mask = (np.hypot(x - 30, y - 30) < 12) | (np.hypot(x - 50, y - 30) < 12)
    assert label_instances(mask, sampling=sampling, min_spacing=15.0).max() == 2
    assert label_instances(mask, sampling=sampling, min_spacing=25.0).max() == 1
    for nm in (1.5, 2.5):
        new = label_instances(mask, sampling=sampling, min_spacing=nm * 10.0)
        with pytest.warns(DeprecationWarning, match="min_separation= \\[nm\\] is deprecated.*min_spacing= in Å"):
            old = label_instances(mask, sampling=sampling, min_separation=nm)
        np.testing.assert_array_equal(new, old)
        with pytest.warns(DeprecationWarning, match="track: min_separation="):
            old_track = list(track([mask, mask], sampling=sampling, min_separation=nm))
        np.testing.assert_array_equal(old_track, list(track([mask, mask], sampling=sampling, min_spacing=nm * 10)))
    with pytest.warns(DeprecationWarning):
        assert min_separation_pixels(1.5, sampling) == 15.0 / sampling
    with pytest.raises(TypeError):  # the old positional (prob, min_separation [nm], sampling) fails loudly
        label_instances(mask, 1.5, sampling)  # type: ignore[misc]


def test_simulated_data_spacing_in_angstrom_and_the_pixel_alias(tmp_path):
    folder = write_set(tmp_path / "set")
    data = SimulatedData(folder / "00000_00.npz")
    data.infer(Oracle(folder))
    # The sites are 12 pixels = 1.2 Å apart: a 2 Å spacing merges neighbours, 1 Å keeps all five.
    assert data.atomic_f1(1.0, min_spacing=1.0).overall.f1 == 1.0
    merged = data.atomic_f1(1.0, min_spacing=2.0)
    assert merged.overall.tp + merged.overall.fn < 5  # fewer columns found in the label too
    with pytest.warns(DeprecationWarning, match="SimulatedData.atomic_f1: min_distance= \\[pixel\\]"):
        old = data.atomic_f1(1.0, min_distance=2.0 / SAMPLING)
    assert old == merged
    with pytest.warns(DeprecationWarning):
        row = data.metrics_row(min_distance=2.0 / SAMPLING)
    assert row == data.metrics_row(min_spacing=2.0)


def test_both_spellings_or_a_length_without_sampling_are_refused():
    image, _ = two_peaks(0.2)
    with pytest.raises(TemnnError, match="not both"):
        find_peaks(image, sampling=0.2, min_spacing=2.0, min_distance=10)
    with pytest.raises(TemnnError, match="sampling"):
        find_peaks(image, min_spacing=2.0)
    with pytest.raises(TemnnError, match="min_spacing"):
        regional_maxima(image)
    with pytest.raises(TemnnError, match="not both"):
        label_instances(image > 0.5, sampling=0.2, min_spacing=10.0, min_separation=1.0)
    assert length_in_pixels("f", name="min_spacing", value=None, sampling=None, default=5.0) == 5.0


@pytest.mark.parametrize("pixels", [1.0, 3.0, 5.0, 2.5])
def test_the_evaluate_pixel_flag_converts_to_a_length_that_comes_back_as_no_fewer_pixels(pixels):
    # min_distance · sampling / sampling can fall one rounding short (3 · 0.1 / 0.1 < 3 for some
    # samplings), which would keep a second peak exactly `pixels` away; _spacing never does.
    samplings = np.random.default_rng(0).uniform(0.05, 0.2, 2000)
    short = [s for s in samplings if pixels * s / s < pixels]
    assert short or pixels in (1.0, 2.0)  # the rounding does happen for 3, 5 and 2.5
    for s in samplings:
        back = length_in_pixels("evaluate", name="min_spacing", value=_spacing(None, pixels, float(s)),
                                sampling=float(s))
        assert pixels <= back <= pixels * (1 + 4e-16)
    assert _spacing(2.0, None, 0.1) == 2.0


def test_public_names_take_min_spacing():
    import inspect

    for function in (temnn.find_peaks, temnn.label_instances, temnn.track):
        assert inspect.signature(function).parameters["min_spacing"].kind is inspect.Parameter.KEYWORD_ONLY
