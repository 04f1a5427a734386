"""Detector: shot-noise statistics, the MTF recovered by publication II's fit, readout floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import curve_fit

from temnn.errors import TemnnError
from temnn.simulate.detector import detect, fitted_floor, parametric_mtf


def _vacuum(n_images: int = 1, n: int = 128) -> torch.Tensor:
    return torch.ones(n_images, 1, n, n, dtype=torch.float32)


def test_shot_noise_counts_are_poisson_with_dose_times_pixel_area() -> None:
    dose, sampling = 400.0, 0.1  # N_D = 4 electrons per pixel
    electrons = dose * sampling**2
    image = detect(_vacuum(), [sampling], dose=[dose], generator=torch.Generator().manual_seed(1))
    counts = image.numpy() * electrons
    assert np.allclose(counts, np.round(counts), atol=1e-4)  # whole electrons
    n = counts.size
    assert counts.mean() == pytest.approx(electrons, abs=5 * np.sqrt(electrons / n))
    assert counts.var() == pytest.approx(electrons, rel=5 * np.sqrt(2 / n))
    assert image.mean().item() == pytest.approx(1.0, abs=5 / np.sqrt(electrons * n))


def test_noise_comes_from_the_generator() -> None:
    args = dict(dose=[50.0], mtf=[(0.3, 3.0, 0.1)], readout=[0.5])
    a = detect(_vacuum(1, 32), [0.1], generator=torch.Generator().manual_seed(7), **args)
    b = detect(_vacuum(1, 32), [0.1], generator=torch.Generator().manual_seed(7), **args)
    c = detect(_vacuum(1, 32), [0.1], generator=torch.Generator().manual_seed(8), **args)
    assert torch.equal(a, b) and not torch.equal(a, c)


def _fringe(n: int, k: int) -> tuple[torch.Tensor, np.ndarray]:
    """A cosine fringe of k half periods across n pixels along x, and its q̃ (2·q·s)."""
    x = torch.arange(n, dtype=torch.float64)
    return torch.cos(np.pi * k * x / (n - 1))[:, None].expand(n, n), np.array(k / (n - 1))


def test_noise_free_mtf_scales_a_fringe_by_root_core() -> None:
    # Without noise the MTF filters the signal: a cosine fringe of frequency q̃ keeps √core(q̃) of its
    # amplitude, core = the MTF without its floor C (the floor belongs to the noise). The fringe is
    # even about both edges, so the image reflected about its edges is the same fringe: the padded
    # filter is exact up to the margin's end, 16+ pixels away (error 1e-5).
    n, k = 64, 40
    fringe, q = _fringe(n, k)
    out = detect((1 + 0.2 * fringe)[None, None], [0.1], mtf=[(0.25, 3.0, 0.2)])
    core = parametric_mtf(q, 0.25, 3.0, 0.0)
    expected = 1 + 0.2 * np.sqrt(core) * fringe.numpy()
    assert np.allclose(out[0, 0].numpy(), expected, atol=5e-5)
    # √MTF with its floor (0.2) would pass 2.4× more of this fringe (q̃ = 1.27, core = 0.008).
    assert np.sqrt(parametric_mtf(q, 0.25, 3.0, 0.2)) > 2 * np.sqrt(core)


def test_signal_passes_the_core_while_the_noise_keeps_the_floor() -> None:
    # At a dose where shot noise is small against the fringe, the detected fringe amplitude is the
    # noise-free √core one; the noise power at high q̃ sits at the floor C (publication II's fit).
    n, k, mtf, sampling = 128, 80, (0.3, 3.0, 0.3), 0.1
    fringe, q = _fringe(n, k)
    image = (1 + 0.2 * fringe)[None, None].expand(8, 1, n, n)
    clean = detect(image, [sampling] * 8, mtf=[mtf] * 8)
    noisy = detect(image, [sampling] * 8, dose=[1e6] * 8, mtf=[mtf] * 8, generator=torch.Generator().manual_seed(4))
    amplitude = ((noisy - 1) * fringe).sum(dim=(-2, -1)) / (fringe**2).sum()
    assert amplitude.mean().item() == pytest.approx(0.2 * np.sqrt(parametric_mtf(q, *mtf[:2], 0.0)), rel=0.05)
    assert ((clean - 1) * fringe).sum().item() / (8 * (fringe**2).sum().item()) == pytest.approx(
        amplitude.mean().item(), rel=0.05
    )
    residual = (noisy - clean)[:, 0].numpy() * 1e6 * sampling**2  # shot noise in electrons
    q_fit, power = _radial_power_spectrum(residual)
    high = q_fit > 0.8
    assert power[high].mean() / power[q_fit < 0.05].mean() == pytest.approx(mtf[2], rel=0.1)


def _filter_periodic(image: np.ndarray, mtf: tuple[float, float, float]) -> np.ndarray:
    """The √MTF filter as one circular FFT over ``image`` (NumPy)."""
    q = 2 * np.hypot(*np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij"))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * np.sqrt(parametric_mtf(q, *mtf))))


def test_bright_edge_does_not_leak_onto_the_opposite_edge() -> None:
    # A bright column on the left edge (x = 0) of a 64² image. Reference: the same filter on the
    # image reflected 512 pixels about its edges (the wrap-around is 8 images away) and cropped.
    # A circular FFT of the crop alone puts 1.6 of the column's 9 onto the right edge.
    mtf = (0.3, 2.5, 0.0)
    image = np.ones((64, 64))
    image[0] = 10.0
    ours = detect(torch.from_numpy(image)[None, None], [0.1], mtf=[mtf])[0, 0].numpy()
    reference = _filter_periodic(np.pad(image, 512, mode="reflect"), mtf)[512:576, 512:576]
    assert np.abs(ours - reference).max() < 1e-3  # measured 1.8e-4
    assert np.abs(ours[-1] - 1).max() < 1e-3  # right edge: measured 3e-4
    assert np.abs(_filter_periodic(image, mtf)[-1] - 1).max() > 1.0
    assert ours[0].mean() == pytest.approx(reference[0].mean(), rel=1e-4) and ours[0].mean() < 9  # the column is blurred


def _radial_power_spectrum(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Publication II, Appendix A.3: |FT|² of vacuum images, azimuthally averaged, q̃ = q/q_N."""
    n = images.shape[-1]
    power = (np.abs(np.fft.fft2(images - images.mean(axis=(-2, -1), keepdims=True))) ** 2).mean(axis=0) / n**2
    k = np.fft.fftfreq(n, 1 / n)
    radius = np.rint(np.hypot(k[:, None], k[None, :])).astype(int)
    inside = (radius > 0) & (radius <= n // 2)
    shells = np.arange(1, n // 2 + 1)
    profile = np.bincount(radius[inside], power[inside])[1:] / np.bincount(radius[inside])[1:]
    return 2 * shells / n, profile


def _fit_mtf(q: np.ndarray, power: np.ndarray) -> tuple[float, float, float]:
    def model(q: np.ndarray, c0: float, c1: float, c2: float, c3: float) -> np.ndarray:
        return (c1 - c2) / (1 + (q / c0) ** c3) + c2

    (c0, c1, c2, c3), _ = curve_fit(model, q, power, p0=(0.3, power[0], power[-1], 2.5), maxfev=20000)
    return c0, c3, c2 / c1


@pytest.mark.parametrize(
    "electrons, readout",
    [(20.0, None), (2.0, 0.5), (0.3, 0.1)],
)
def test_power_spectrum_fit_recovers_simulated_mtf(electrons: float, readout: float | None) -> None:
    # Over seeds, 64 images of 128² give standard deviations ≈ 0.005 (c0), 0.18 (c3), 0.01 (C).
    # Multiplying the spectrum by the MTF itself (power ∝ MTF²) would give C ≈ C² and a narrower c0.
    c0, c3, floor, sampling, n = 0.3, 3.0, 0.15, 0.1, 64
    images = detect(
        _vacuum(n, 128),
        [sampling] * n,
        dose=[electrons / sampling**2] * n,
        mtf=[(c0, c3, floor)] * n,
        readout=None if readout is None else [readout] * n,
        generator=torch.Generator().manual_seed(3),
    )
    total = electrons + (readout or 0.0)
    q, power = _radial_power_spectrum(images[:, 0].double().numpy() * total)  # back to counts
    fit_c0, fit_c3, fit_floor = _fit_mtf(q, power)
    expected_floor = floor if readout is None else fitted_floor(electrons, floor, readout)
    assert fit_c0 == pytest.approx(c0, abs=0.03)
    assert fit_c3 == pytest.approx(c3, abs=0.7)
    assert fit_floor == pytest.approx(expected_floor, abs=0.04)


def test_fitted_floor_trend_with_dose() -> None:
    # Readout dominates at low dose (C_fit → 1), shot noise at high dose (C_fit → C).
    assert fitted_floor(1e-4, 0.1, 0.05) > 0.99
    assert fitted_floor(1e4, 0.1, 0.05) == pytest.approx(0.1, abs=1e-4)


def test_mtf_with_zero_width_is_the_floor_without_nan() -> None:
    q = np.linspace(0, 1.4, 15)
    mtf = parametric_mtf(q, 0.0, 3.0, 0.4)
    assert mtf[0] == 1 and np.all(mtf[1:] == pytest.approx(0.4))
    out = detect(_vacuum(1, 16), [0.1], dose=[100.0], mtf=[(0.0, 3.0, 0.4)], generator=torch.Generator().manual_seed(0))
    assert torch.all(torch.isfinite(out))


def test_mtf_limits() -> None:
    q = torch.tensor([0.0, 1e-6, 1e6])
    assert torch.allclose(parametric_mtf(q, 0.3, 3.0, 0.2), torch.tensor([1.0, 1.0, 0.2]))


def test_bad_input_names_the_option() -> None:
    with pytest.raises(TemnnError, match="readout"):
        detect(_vacuum(1, 8), [0.1], readout=[0.01])
    with pytest.raises(TemnnError, match="dose"):
        detect(_vacuum(1, 8), [0.1], dose=[0.0])


@pytest.mark.parametrize("rate", [0.02, 3.0, 400.0])
def test_readout_counts_follow_the_poisson_law(rate: float) -> None:
    from scipy import stats

    from temnn.simulate.detector import _poisson_per_image

    counts = _poisson_per_image(torch.tensor([rate]), torch.Size((1, 200, 200)), torch.Generator().manual_seed(2))
    values, observed = np.unique(counts.numpy(), return_counts=True)
    expected = stats.poisson.pmf(values, rate) * counts.numel()
    enough = expected > 20  # chi-square needs populated cells
    chi2 = ((observed[enough] - expected[enough]) ** 2 / expected[enough]).sum()
    assert stats.chi2.sf(chi2, enough.sum() - 1) > 1e-3
    assert observed[~enough].sum() <= 5 * max(expected[~enough].sum(), 1.0)
