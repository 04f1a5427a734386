"""Optics against abTEM 1.0 (the reference implementation) and closed forms."""

from __future__ import annotations

import math

import abtem
import numpy as np
import pytest
import scipy.ndimage
import torch
from abtem.core.energy import energy2wavelength
from hypothesis import given, settings
from hypothesis import strategies as st

from temnn.errors import TemnnError
from temnn.simulate.optics import (
    CTF,
    POLAR_TERMS,
    blur_envelope,
    ctf,
    phase_error,
    phase_error_gradient,
    polar_frequencies,
    scherzer_defocus,
    temporal_envelope,
    transfer_function,
    wavelength,
)

energies = st.sampled_from([60e3, 80e3, 120e3, 200e3, 300e3])


def test_wavelength_closed_form_values() -> None:
    assert wavelength(50e3) == pytest.approx(0.05355, abs=5e-6)
    assert wavelength(300e3) == pytest.approx(0.01969, abs=5e-6)


@given(energy=st.floats(1e3, 1e6))
def test_wavelength_equals_abtem(energy: float) -> None:
    assert wavelength(energy) == pytest.approx(energy2wavelength(energy), rel=1e-7)


@given(cs=st.floats(-2e5, 2e5).filter(lambda v: abs(v) > 1), energy=energies)
def test_scherzer_defocus_equals_abtem(cs: float, energy: float) -> None:
    assert scherzer_defocus(cs, energy) == pytest.approx(abtem.transfer.scherzer_defocus(cs, energy), rel=1e-7)


def test_scherzer_defocus_thesis_figure() -> None:
    # Thesis figure 1.3: Cs = 5 µm at 300 keV gives 38.43 Å.
    assert scherzer_defocus(5e4, 300e3) == pytest.approx(38.43, abs=0.01)


def test_bad_input_names_the_parameter() -> None:
    with pytest.raises(TemnnError, match="energy"):
        wavelength(-1.0)
    with pytest.raises(TemnnError, match="Cs"):
        ctf((8, 8), 0.1, 300e3, Cs=1.0)
    with pytest.raises(TemnnError, match="focal_spread"):
        CTF(energy=300e3, focal_spread=-1.0)


def _abtem_ctf(
    gpts: tuple[int, int], sampling: float, energy: float, aperture: float | None, **kwargs: float
) -> np.ndarray:
    """abTEM's CTF on the FFT grid, through its public chain: apply it to a point (a flat spectrum)."""
    point = np.zeros(gpts, np.complex64)
    point[0, 0] = 1
    transfer = abtem.CTF(semiangle_cutoff=np.inf if aperture is None else aperture, soft=False, energy=energy, **kwargs)
    waves = abtem.Waves(point, sampling=sampling, energy=energy).apply_ctf(transfer).compute()
    return np.fft.fft2(waves.array)


angles = st.floats(0, 2 * math.pi)


@st.composite
def lens(draw: st.DrawFn) -> dict[str, float]:
    out = dict(
        defocus=draw(st.floats(-300, 300)),
        C30=draw(st.floats(-2e5, 2e5)),
        focal_spread=draw(st.sampled_from([0.0, 5.0, 20.0])),
        angular_spread=draw(st.sampled_from([0.0, 0.3, 1.0])),
    )
    for name, high in (("C12", 50.0), ("C21", 2e3), ("C23", 2e3), ("C32", 5e4), ("C34", 5e4), ("C45", 1e6)):
        if draw(st.booleans()):
            out[name] = draw(st.floats(0, high))
            out["phi" + name[1:]] = draw(angles)
    return out


@settings(max_examples=30, deadline=None)
@given(
    parameters=lens(),
    energy=energies,
    sampling=st.floats(0.05, 0.2),
    gpts=st.tuples(st.integers(16, 40), st.integers(16, 40)),
    aperture=st.one_of(st.none(), st.floats(5, 40)),
)
def test_ctf_equals_abtem(
    parameters: dict[str, float], energy: float, sampling: float, gpts: tuple[int, int], aperture: float | None
) -> None:
    ours = ctf(gpts, sampling, energy, aperture=aperture, **parameters)
    reference = _abtem_ctf(gpts, sampling, energy, aperture, **parameters)
    # abTEM evaluates χ in float32: each term 2π/λ·C_nm α^(n+1)/(n+1) carries the rounding of
    # α^(n+1) and of the trigonometric argument m(φ - φ_nm), i.e. ~1e-6·(1 + m|φ_nm|) of its size.
    q, _ = polar_frequencies(gpts, sampling)
    lam = wavelength(energy)
    coefficients = CTF(energy=energy, **parameters).coefficients
    scale = sum(
        2
        * math.pi
        / lam
        * abs(coefficients[c])
        * (q.numpy() * lam) ** (n + 1)
        / (n + 1)
        * (1 + m * abs(coefficients.get(a, 0.0) if a else 0.0) + m * math.pi)
        for c, a, n, m in POLAR_TERMS
    )
    tolerance = 5e-6 + 2e-6 * scale
    if aperture is not None:  # float32 against float64 on the edge itself
        alpha = q.numpy() * lam * 1e3
        tolerance[np.abs(alpha - aperture) < 1e-4 * aperture] = 1.0
    assert np.all(np.abs(ours - reference) <= tolerance)
    assert np.all(np.abs(ours) <= 1 + 1e-12)


def test_temporal_envelope_is_average_over_focal_spread() -> None:
    # Average the coherent CTF over defoci distributed as exp(-δ²/Δ²) (Δ = 1/e half-width,
    # abTEM's focal_spread) by Gauss-Hermite quadrature; χ is linear in defocus, so the
    # average is exp(-iχ)·E_t exactly. (The quadrature resolves the oscillating integrand
    # where the envelope is above ~1e-8, so only there is it a reference.)
    energy, spread = 80e3, 25.0
    gpts, sampling = (48, 48), 0.2
    nodes, weights = np.polynomial.hermite.hermgauss(60)
    average = sum(
        w / math.sqrt(math.pi) * ctf(gpts, sampling, energy, defocus=40.0 + spread * x, C30=3e4)
        for x, w in zip(nodes, weights)
    )
    ours = ctf(gpts, sampling, energy, defocus=40.0, C30=3e4, focal_spread=spread)
    resolved = np.abs(ours) > 1e-8
    assert resolved.sum() > 100 and (np.abs(ours) < 0.5).sum() > 100
    assert np.allclose(ours[resolved], average[resolved], rtol=0, atol=1e-9)


def test_envelopes_lie_in_zero_one() -> None:
    q, phi = polar_frequencies((64, 64), 0.05)
    lam = wavelength(200e3)
    e_t = temporal_envelope(q * lam, lam, 30.0)
    assert torch.all((e_t >= 0) & (e_t <= 1))
    assert e_t[0, 0] == 1


def test_phase_error_gradient_matches_autograd() -> None:
    lam = wavelength(100e3)
    coefficients = dict(
        C10=-50.0,
        C12=30.0,
        phi12=0.4,
        C21=800.0,
        phi21=2.0,
        C23=500.0,
        phi23=1.0,
        C30=4e4,
        C32=2e4,
        phi32=0.3,
        C34=1e4,
        phi34=5.0,
        C45=3e5,
        phi45=1.5,
    )
    ax = torch.linspace(-0.03, 0.031, 17, dtype=torch.float64)[:, None].expand(17, 13).clone().requires_grad_(True)
    ay = torch.linspace(-0.02, 0.027, 13, dtype=torch.float64)[None, :].expand(17, 13).clone().requires_grad_(True)
    alpha, phi = torch.sqrt(ax**2 + ay**2), torch.atan2(ay, ax)
    chi = phase_error(alpha, phi, lam, coefficients)
    gx, gy = torch.autograd.grad(chi.sum(), (ax, ay))
    radial, azimuthal = phase_error_gradient(alpha.detach(), phi.detach(), lam, coefficients)
    assert torch.allclose(radial**2 + azimuthal**2, gx**2 + gy**2, rtol=1e-9)


def test_blur_envelope_equals_real_space_gaussian_filter() -> None:
    # A smooth periodic image filtered in real space (scipy) and in Fourier space (ours).
    rng = np.random.default_rng(3)
    n, sampling, sigma = 128, 0.1, 0.3
    image = scipy.ndimage.gaussian_filter(rng.normal(size=(n, n)), 4.0, mode="wrap") + 1.0
    real_space = scipy.ndimage.gaussian_filter(image, sigma / sampling, mode="wrap", truncate=8.0)
    q, _ = polar_frequencies((n, n), sampling)
    fourier = np.fft.ifft2(np.fft.fft2(image) * blur_envelope(q, sigma).numpy()).real
    assert np.abs(fourier - real_space).max() < 1e-4 * image.std()


def test_transfer_function_batches_coefficients() -> None:
    q, phi = polar_frequencies((24, 20), 0.08)
    lam = wavelength(300e3)
    defocus = torch.tensor([-30.0, 0.0, 55.0], dtype=torch.float64).reshape(3, 1, 1)
    batch = transfer_function(q, phi, lam, {"C10": -defocus, "C30": 1e4}, focal_spread=torch.full((3, 1, 1), 8.0))
    for b, df in enumerate((-30.0, 0.0, 55.0)):
        single = ctf((24, 20), 0.08, 300e3, defocus=df, C30=1e4, focal_spread=8.0)
        assert np.allclose(batch[b].numpy(), single, atol=1e-12)
