"""Exit waves against abTEM run directly, closed-form cases and hand-built slicings."""

from __future__ import annotations

import math

import abtem
import numpy as np
import pytest
from ase import Atoms
from ase.build import mx2
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from temnn import TemnnError
from temnn.simulate.waves import (
    ExitWave,
    WaveSettings,
    build_potential,
    exit_wave,
    fft_friendly_size,
    slice_thicknesses,
    wave_grid,
)


def mos2_patch() -> Atoms:
    """A 2H-MoS₂ patch (12 atoms) in an orthogonal 9.5 × 5.5 × 8 Å cell."""
    atoms = abtem.orthogonalize_cell(mx2("MoS2", size=(1, 1, 1), vacuum=2.0)).repeat((3, 1, 1))
    atoms.cell[2, 2] = 8.0
    atoms.center(axis=2)
    return atoms


def direct_abtem(atoms: Atoms, gpts, energy, slice_thickness, parametrization="kirkland") -> np.ndarray:
    """What a user writes with abTEM 1.0 (thesis listing in section 3.1)."""
    potential = abtem.Potential(
        atoms, gpts=gpts, slice_thickness=slice_thickness, projection="infinite", parametrization=parametrization
    )
    return abtem.PlaneWave(energy=energy).multislice(potential).compute(progress_bar=False).array


@pytest.mark.parametrize(
    ("energy", "parametrization"), [(50e3, "kirkland"), (300e3, "kirkland"), (80e3, "lobato")]
)
def test_exit_wave_equals_abtem_direct(energy, parametrization):
    atoms = mos2_patch()
    settings = WaveSettings(
        energy=energy, sampling=0.1, parametrization=parametrization, merge_empty_slices=False
    )
    ours = exit_wave(atoms, settings)
    reference = direct_abtem(atoms, ours.gpts, energy, 0.2, parametrization)
    assert ours.array.dtype == np.complex64 and ours.array.shape == reference.shape
    assert ours.energy == energy
    np.testing.assert_allclose(ours.extent, np.diag(atoms.cell)[:2], rtol=1e-12)
    # the atoms scatter (phase up to ~0.5 rad), and we agree to float32 rounding
    assert np.abs(reference - 1).max() > 0.1
    assert np.abs(ours.array - reference).max() < 1e-5


def test_merging_empty_slices_is_exact_with_a_hard_aperture():
    atoms = mos2_patch()
    fine = WaveSettings(sampling=0.1, merge_empty_slices=False)
    merged = WaveSettings(sampling=0.1)
    assert len(slice_thicknesses(atoms, merged)) < len(slice_thicknesses(atoms, fine)) == 40
    # abTEM's antialias aperture has a cosine taper that it applies once per slice;
    # with a hard aperture, propagators compose exactly and so must the waves.
    with abtem.config.set({"antialias.taper": 0.0}):
        hard = [exit_wave(atoms, s).array for s in (fine, merged)]
    assert np.abs(hard[0] - hard[1]).max() < 2e-5
    tapered = [exit_wave(atoms, s).array for s in (fine, merged)]
    assert np.abs(tapered[0] - tapered[1]).max() < 1e-2


def test_slice_thicknesses_merge_runs_of_empty_slices():
    # height 5 Å → 25 slices of 0.2 Å; one atom inside slice 5, one on the 9|10 boundary
    atoms = Atoms("C2", positions=[(1, 1, 1.1), (1, 1, 2.0)], cell=[4, 4, 5])
    merged = slice_thicknesses(atoms, WaveSettings())
    np.testing.assert_allclose(merged, [1.0, 0.2, 0.6, 0.2, 0.2, 2.8], rtol=1e-12)
    assert slice_thicknesses(atoms, WaveSettings(merge_empty_slices=False)) == (0.2,) * 25
    # the finite projection spreads each atom over neighbouring slices: never merged
    finite = WaveSettings(projection="finite")
    assert slice_thicknesses(atoms, finite) == (0.2,) * 25
    # abTEM's rule: ceil(height / thickness) equal slices, none thicker than asked
    assert slice_thicknesses(Atoms(cell=[4, 4, 5.1]), WaveSettings(merge_empty_slices=False)) == (5.1 / 26,) * 26


def test_vacuum_leaves_the_plane_wave_unchanged():
    wave = exit_wave(Atoms(cell=[6.0, 7.0, 3.0]), WaveSettings(energy=200e3, sampling=0.2))
    np.testing.assert_allclose(wave.array, 1.0, atol=1e-6)


def test_debye_waller_smears_the_projected_potential_by_a_gaussian_of_sigma_sqrt_u2():
    u2 = 0.01  # Å², σ = 0.1 Å = 2 pixels at 0.05 Å
    atoms = Atoms("Mo", positions=[(3.0, 3.0, 1.0)], cell=[6.0, 6.0, 2.0])
    sharp_settings = WaveSettings(sampling=0.05)
    sharp = build_potential(atoms, sharp_settings).build(lazy=False).project().array
    smeared = build_potential(atoms, WaveSettings(sampling=0.05, debye_waller=u2)).build(lazy=False).project().array
    sampling = 6.0 / wave_grid((6.0, 6.0), sharp_settings)[0]
    # independent reference: real-space Gaussian blur with σ = √⟨u²⟩ along x and y
    reference = ndimage.gaussian_filter(sharp.astype(np.float64), math.sqrt(u2) / sampling, mode="wrap", truncate=6)
    assert smeared.sum() == pytest.approx(sharp.sum(), rel=1e-5)  # smearing keeps the total
    assert smeared.max() < 0.7 * sharp.max()
    blur = np.linalg.norm(sharp - reference)
    assert np.linalg.norm(smeared - reference) < 1e-3 * blur
    # a σ off by √2 (⟨u²⟩ read as 2D or 3D) would be far from the reference
    wrong = ndimage.gaussian_filter(sharp.astype(np.float64), math.sqrt(2 * u2) / sampling, mode="wrap", truncate=6)
    assert np.linalg.norm(smeared - wrong) > 0.2 * blur


def test_debye_waller_exit_wave_is_abtems_static_smearing():
    from abtem.parametrizations import KirklandParametrization

    atoms = mos2_patch()
    ours = exit_wave(atoms, WaveSettings(sampling=0.1, debye_waller=0.003, merge_empty_slices=False))
    potential = abtem.Potential(
        atoms,
        gpts=ours.gpts,
        slice_thickness=0.2,
        parametrization=KirklandParametrization(sigmas=math.sqrt(0.003)),
    )
    reference = abtem.PlaneWave(energy=50e3).multislice(potential).compute(progress_bar=False).array
    assert np.abs(ours.array - reference).max() < 1e-5
    assert np.abs(ours.array - exit_wave(atoms, WaveSettings(sampling=0.1, merge_empty_slices=False)).array).max() > 1e-2


@given(st.floats(min_value=1, max_value=5000))
@settings(max_examples=200, deadline=None)
def test_fft_friendly_size_is_the_next_7_smooth_size(n):
    size = fft_friendly_size(n)

    def acceptable(m: int) -> bool:
        rest = m
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        return rest == 1 and not (m >= 256 and m & (m - 1) == 0)

    assert size >= n * (1 - 1e-9) and acceptable(size)
    assert not any(acceptable(m) for m in range(math.ceil(n * (1 - 1e-9)), size))
    assert fft_friendly_size(10 / 0.1) == 100  # 100.00000000000001 is rounding


def test_grid_is_fft_friendly_and_never_coarser_than_asked():
    atoms = Atoms(cell=[50.9, 49.6, 2.0])
    wave = exit_wave(atoms, WaveSettings(sampling=0.05, slice_thickness=1.0))
    assert wave.gpts == (1029, 1000)  # not 1018 = 2·509 and 992 = 2⁵·31, nor 1024 (module notes)
    assert all(s <= 0.05 for s in wave.sampling)
    np.testing.assert_allclose(wave.extent, (50.9, 49.6))
    explicit = exit_wave(atoms, WaveSettings(gpts=(90, 80), slice_thickness=1.0))
    assert explicit.gpts == (90, 80)
    np.testing.assert_allclose(explicit.sampling, (50.9 / 90, 49.6 / 80))


def test_exit_wave_converts_to_abtem_waves():
    wave = ExitWave(np.ones((8, 6), np.complex64), sampling=(0.1, 0.2), energy=80e3)
    waves = wave.to_abtem()
    assert waves.gpts == (8, 6) and waves.energy == 80e3
    np.testing.assert_allclose(waves.sampling, (0.1, 0.2))
    np.testing.assert_allclose(wave.extent, (0.8, 1.2))


def test_settings_round_trip_through_a_dict():
    settings = WaveSettings(energy=300e3, gpts=(64, 72), debye_waller=0.003, parametrization="lobato")
    assert WaveSettings.from_dict(settings.to_dict()) == settings
    assert WaveSettings.from_dict(WaveSettings().to_dict()) == WaveSettings()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"energy": -5.0}, "'energy'"),
        ({"sampling": 0}, "'sampling'"),
        ({"gpts": (10,)}, "'gpts'"),
        ({"slice_thickness": "thin"}, "'slice_thickness'"),
        ({"projection": "exact"}, "'projection'"),
        ({"parametrization": "peng"}, "'parametrization'"),
        ({"debye_waller": -0.1}, "'debye_waller'"),
        ({"debye_waller": 0.003, "projection": "finite"}, "infinite"),
    ],
)
def test_bad_settings_name_the_field(kwargs, words):
    with pytest.raises(TemnnError, match=words):
        WaveSettings(**kwargs)


def test_unknown_settings_key_is_named():
    with pytest.raises(TemnnError, match="voltage"):
        WaveSettings.from_dict({"voltage": 300e3})


def test_non_orthogonal_cell_is_refused():
    with pytest.raises(TemnnError, match="orthogonal"):
        exit_wave(mx2("MoS2", size=(2, 2, 1), vacuum=2.0))


def test_converge_slice_thickness_picks_the_thickest_slicing_within_tolerance() -> None:
    # Differences computed here with exit_wave itself; the tolerance sits between those of 1 Å and
    # 0.5 Å slices, so 2 Å and 1 Å are rejected and 0.5 Å is chosen.
    from dataclasses import replace

    from temnn.simulate.waves import converge_slice_thickness

    atoms = Atoms("AuC", positions=[(3.0, 3.0, 1.3), (4.2, 3.5, 3.9)], cell=[7.0, 7.0, 6.0])
    settings = WaveSettings(energy=300e3, sampling=0.1)
    reference = exit_wave(atoms, replace(settings, slice_thickness=0.2)).array

    def difference(thickness: float) -> float:
        return float(np.abs(exit_wave(atoms, replace(settings, slice_thickness=thickness)).array - reference).max())

    d2, d1, d05 = difference(2.0), difference(1.0), difference(0.5)
    assert d05 < d1 and d05 < d2
    tolerance = float(np.sqrt(d05 * min(d1, d2)))
    choice = converge_slice_thickness(atoms, settings, tolerance=tolerance)
    assert choice.slice_thickness == 0.5
    assert [t for t, _ in choice.differences] == [2.0, 1.0, 0.5]
    assert np.allclose([d for _, d in choice.differences], [d2, d1, d05], rtol=1e-6)
    strict = converge_slice_thickness(atoms, settings, tolerance=1e-9, candidates=(0.4,))
    assert strict.slice_thickness == 0.2 and strict.to_dict()["reference_slice_thickness"] == 0.2
    # Compared only below 1 Å⁻¹, the thick slices differ less.
    low = converge_slice_thickness(atoms, settings, tolerance=1.0, band=1.0, candidates=(2.0,))
    assert low.differences[0][1] < d2 and low.slice_thickness == 2.0


def uniform_wave(amplitude: float, shape: tuple[int, int], sampling: float) -> ExitWave:
    return ExitWave(array=np.full(shape, amplitude, dtype=np.complex64), sampling=(sampling, sampling), energy=300e3)


def test_image_noise_ratio_is_the_shot_noise_fraction_of_a_known_intensity_change() -> None:
    # A uniform wave of amplitude b stays uniform through any CTF, envelope and blur (they pass
    # q = 0 unchanged): I_ref = b², I_test = a²b². At dose D and pixel size s a pixel holds
    # N = I·D·s² electrons, σ = √(I_ref/(D s²)), so max |ΔI|/σ = |a² - 1|·b·s·√D exactly, whatever
    # the microscope and the wave grids (the test wave is on a coarser grid of the same cell).
    from temnn.simulate.draw import MicroscopeParameters
    from temnn.simulate.waves import image_noise_ratio

    s = 0.1
    micro = MicroscopeParameters(sampling=s, defocus=(-100.0, 50.0), energy=300e3, focal_spread=5.0, blur=0.1,
                                 C30=1e4, dose=10.0)  # the dose of the draw is ignored
    for b in (1.0, 0.6):
        reference = uniform_wave(b, (64, 64), 0.05)
        test = uniform_wave(1.02 * b, (32, 32), 0.1)
        per_root_dose = (1.02**2 - 1) * b * s
        for target in (0.9, 1.1):
            dose = (target / per_root_dose) ** 2
            ratio = image_noise_ratio(reference, test, [micro], dose)
            assert ratio == pytest.approx(target, rel=1e-4)
            assert (ratio < 1) == (target < 1)
    assert image_noise_ratio(reference, reference, [micro]) == 0.0
    with pytest.raises(TemnnError, match="one cell"):
        image_noise_ratio(reference, uniform_wave(1.0, (32, 32), 0.05), [micro])
    with pytest.raises(TemnnError, match="dose"):
        image_noise_ratio(reference, test, [micro], 0.0)


def test_image_criterion_accepts_and_rejects_a_slicing_at_the_right_dose() -> None:
    # ΔI and I_ref do not depend on the dose, so max |ΔI|/σ grows as √D: with the ratios r(2 Å) > 1 Å's
    # measured at 10³ e⁻/Å², the dose that puts 1 at their geometric mean rejects 2 Å and accepts 1 Å.
    from dataclasses import replace

    from temnn.simulate.draw import MicroscopeParameters
    from temnn.simulate.waves import converge_slice_thickness, image_noise_ratio

    atoms = Atoms("AuC", positions=[(3.0, 3.0, 1.3), (4.2, 3.5, 3.9)], cell=[7.0, 7.0, 6.0])
    settings = WaveSettings(energy=300e3, sampling=0.1)
    micro = MicroscopeParameters(sampling=0.1, defocus=(-200.0, 0.0, 200.0), energy=300e3, focal_spread=5.0,
                                 blur=0.1, C30=6e4)
    reference = exit_wave(atoms, replace(settings, slice_thickness=0.2))
    r2, r1 = (image_noise_ratio(reference, exit_wave(atoms, replace(settings, slice_thickness=t)), [micro])
              for t in (2.0, 1.0))
    assert r1 < r2
    dose = 1e3 / (r1 * r2)
    choice = converge_slice_thickness(atoms, settings, microscopes=[micro], dose=dose, candidates=(2.0, 1.0))
    assert choice.slice_thickness == 1.0 and choice.criterion == "image"
    assert np.allclose([d for _, d in choice.differences], [math.sqrt(r2 / r1), math.sqrt(r1 / r2)], rtol=1e-4)
    record = choice.to_dict()
    assert record["criterion"] == "image" and record["dose"] == dose and record["tolerance"] == 1.0
    assert record["max_noise_ratio"][1] == [1.0, choice.differences[1][1]]
    assert MicroscopeParameters.from_dict(record["microscopes"][0]) == micro
    # A wave sampling coarser than the image's pixels is never tried; an equal one is.
    coarse = converge_slice_thickness(atoms, replace(settings, sampling=0.05), microscopes=[micro], dose=dose,
                                      candidates=(1.0,), samplings=(0.2, 0.1))
    assert [s for s, _ in coarse.sampling_differences] == [0.1]
    assert coarse.sampling == (0.1 if coarse.sampling_differences[0][1] < 1 else 0.05)
    with pytest.raises(TemnnError, match="band"):
        converge_slice_thickness(atoms, settings, microscopes=[micro], band=2.0)
    with pytest.raises(TemnnError, match="image criterion"):
        converge_slice_thickness(atoms, settings, samplings=(0.2,))
