"""HR-TEM images from exit waves: CTF → intensity → blur and resampling → detector.

:func:`form_images` turns a batch of exit waves (one per sample, all on the same
native grid) into focal series of detected images, each image with its own
microscope (:class:`~temnn.simulate.draw.MicroscopeParameters`) and pixel grid
(:class:`~temnn.simulate.geometry.ImageGeometry`). Everything runs in PyTorch on
the device of the waves, one call for the whole batch:

1. The CTF (aberrations, aperture, temporal and spatial coherence envelopes,
   :mod:`temnn.simulate.optics`) multiplies the Fourier transform of each wave
   on the wave's full periodic grid, the multislice cell, before any cropping,
   so the crop never wraps image features around its edges.
2. The intensity |ψ|² is formed on the native grid.
3. :func:`resample` evaluates the intensity on the image's grid: its Fourier
   series, cut at the image's Nyquist frequency 1/(2s) along x and y (the exact
   anti-aliasing band of the image grid) and multiplied by the blur transfer
   function exp(-2π²σ²q²), is summed at the image pixel positions. The sum is
   separable, so it is two small matrix products per image (no interpolation
   kernel, so sub-pixel positions and per-image pixel sizes are exact). Pixels
   outside the multislice cell are vacuum: intensity 1 (the thesis zero-pads,
   but a dark frame around the field is not what a microscope records;
   :func:`~temnn.simulate.geometry.choose_geometry` warns when it happens).
4. :func:`~temnn.simulate.detector.detect` adds shot noise, the MTF and readout noise.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import TemnnError
from .detector import detect
from .draw import ABERRATION_KEYS, MicroscopeParameters
from .geometry import ImageGeometry, choose_geometry
from .optics import polar_frequencies, transfer_function, wavelength

__all__ = ["form_images", "resample", "choose_geometry"]


def form_images(
    waves: torch.Tensor,
    wave_sampling: float | tuple[float, float],
    micro: Sequence[MicroscopeParameters],
    geometries: Sequence[ImageGeometry],
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Form detected HR-TEM images (focal series) from a batch of exit waves.

    Parameters
    ----------
    waves : torch.Tensor, complex, shape (B, Nx, Ny)
        Exit waves on one native grid, indexed ``[ix, iy]``, vacuum amplitude 1.
    wave_sampling : float or tuple[float, float]
        Sampling of the waves [Å/pixel].
    micro : sequence of MicroscopeParameters, length B
        Microscope of each sample; all share the energy, the series length C and
        which of dose / MTF / readout are enabled.
    geometries : sequence of ImageGeometry, length B
        Pixel grid of each sample's images (all of one shape (nx, ny)); its
        ``sampling`` should equal ``micro[b].sampling``.
    generator : torch.Generator, optional
        Source of the detector noise, on the device of ``waves``. With B = 1 and
        a generator seeded from the sample's own seed, a sample's images depend
        on nothing else.

    Returns
    -------
    torch.Tensor, float32, shape (B, C, nx, ny)
        Images, vacuum mean 1, on the device of ``waves``.
    """
    waves = torch.as_tensor(waves)
    if waves.ndim != 3 or not waves.is_complex():
        raise TemnnError(f"form_images(): waves must be a complex (B, Nx, Ny) tensor, got {waves.dtype} {tuple(waves.shape)}")
    batch = waves.shape[0]
    if len(micro) != batch or len(geometries) != batch:
        raise TemnnError(
            f"form_images(): {batch} waves need {batch} microscope draws and geometries, "
            f"got {len(micro)} and {len(geometries)}"
        )
    energy = _common(micro, lambda m: m.energy, "energy")
    series = _common(micro, lambda m: m.num_images, "number of focal-series images")
    for m, g in zip(micro, geometries):
        if not math.isclose(m.sampling, g.sampling, rel_tol=1e-9):
            raise TemnnError(
                f"form_images(): an image geometry has sampling {g.sampling:g} Å/pixel but its microscope "
                f"draw {m.sampling:g} Å/pixel; build the geometry from the draw's sampling"
            )
    waves = waves.to(torch.complex64)
    device = waves.device
    lam = wavelength(energy)

    q, phi = polar_frequencies(tuple(waves.shape[-2:]), wave_sampling, device=device, dtype=torch.float32)

    def column(values: list[float | None]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).reshape(batch, 1, 1)

    coefficients = {key: column([getattr(m, key) for m in micro]) for key in ABERRATION_KEYS}
    focal_spread = column([m.focal_spread for m in micro])
    angular_spread = column([m.angular_spread for m in micro])
    apertures = [m.aperture for m in micro]
    semiangle = None if all(a is None for a in apertures) else column([math.inf if a is None else a for a in apertures])

    spectrum = torch.fft.fft2(waves)
    intensity_spectra = []
    for c in range(series):
        coefficients["C10"] = column([-m.defocus[c] for m in micro])
        t = transfer_function(
            q,
            phi,
            lam,
            coefficients,
            focal_spread=focal_spread,
            angular_spread=angular_spread,
            semiangle=semiangle,
        )
        image_wave = torch.fft.ifft2(spectrum * t.to(torch.complex64))
        intensity = image_wave.real**2 + image_wave.imag**2
        intensity_spectra.append(torch.fft.rfft2(intensity))
    images = _evaluate_spectrum(
        torch.stack(intensity_spectra, dim=1),
        tuple(waves.shape[-2:]),
        wave_sampling,
        geometries,
        sigma=[m.blur for m in micro],
        onesided=True,
        fill=1.0,
    )
    dose = _all_or_none(micro, "dose")
    return detect(
        images,
        [g.sampling for g in geometries],
        dose=dose,
        mtf=_all_or_none(micro, "mtf"),
        readout=_all_or_none(micro, "readout"),
        generator=generator,
    )


def resample(
    field: torch.Tensor,
    wave_sampling: float | tuple[float, float],
    geometries: Sequence[ImageGeometry],
    *,
    sigma: float | Sequence[float] | None = None,
    fill: float | complex | None = 1.0,
) -> torch.Tensor:
    """Band-limited resampling of fields on the wave grid onto image grids.

    The field's Fourier series is cut at each image's Nyquist frequency 1/(2s)
    (along x and y) and summed at the image pixel positions: exact
    trigonometric interpolation of the band-limited, periodic field, with no
    aliasing and no interpolation blur. The mean of a field is kept.

    Parameters
    ----------
    field : torch.Tensor, real or complex, shape (B, Nx, Ny) or (B, C, Nx, Ny)
        Fields on the wave grid, indexed ``[ix, iy]`` (position (ix·ws, iy·ws)).
    wave_sampling : float or tuple[float, float]
        Sampling of the wave grid [Å/pixel].
    geometries : sequence of ImageGeometry, length B
        Target grids, all of one shape (nx, ny).
    sigma : float or sequence of float, optional
        Standard deviation of a Gaussian filter applied at the same time [Å]
        (one per sample, or one for all); ``None`` for none.
    fill : float, complex or None
        Value of pixels outside the periodic cell [0, Nx·ws) × [0, Ny·ws): 1 is
        vacuum for intensities and exit waves; ``None`` continues the field periodically.

    Returns
    -------
    torch.Tensor, shape (B, nx, ny) or (B, C, nx, ny)
        float32 for real fields, complex64 for complex ones.
    """
    field = torch.as_tensor(field)
    if field.ndim not in (3, 4):
        raise TemnnError(f"resample(): field must have shape (B, Nx, Ny) or (B, C, Nx, Ny), got {tuple(field.shape)}")
    if len(geometries) != field.shape[0]:
        raise TemnnError(f"resample(): {field.shape[0]} fields need as many geometries, got {len(geometries)}")
    onesided = not field.is_complex()
    squeeze = field.ndim == 3
    if squeeze:
        field = field[:, None]
    if onesided:
        spectrum = torch.fft.rfft2(field.to(torch.float32))
    else:
        spectrum = torch.fft.fft2(field.to(torch.complex64))
    if sigma is None or np.isscalar(sigma):
        sigma = [0.0 if sigma is None else float(sigma)] * field.shape[0]
    out = _evaluate_spectrum(
        spectrum, tuple(field.shape[-2:]), wave_sampling, geometries, sigma=sigma, onesided=onesided, fill=fill
    )
    return out[:, 0] if squeeze else out


# --------------------------------------------------------------------- helpers
def _evaluate_spectrum(
    spectrum: torch.Tensor,
    wave_shape: tuple[int, int],
    wave_sampling: float | tuple[float, float],
    geometries: Sequence[ImageGeometry],
    *,
    sigma: Sequence[float],
    onesided: bool,
    fill: float | complex | None,
) -> torch.Tensor:
    """Sum the band-limited Fourier series of (B, C, Nx, Ny[/2+1]) spectra at the image pixels."""
    shape = geometries[0].shape
    if any(g.shape != shape for g in geometries):
        raise TemnnError(f"images of one batch must share one shape, got {sorted({g.shape for g in geometries})}")
    sx, sy = (wave_sampling, wave_sampling) if np.isscalar(wave_sampling) else wave_sampling
    device = spectrum.device
    x, y = zip(*(g.pixel_positions() for g in geometries))
    nyquist = [1 / (2 * g.sampling) for g in geometries]
    ax, keep_x, inside_x = _series_matrix(wave_shape[0], sx, np.stack(x), nyquist, sigma, False, device)
    ay, keep_y, inside_y = _series_matrix(wave_shape[1], sy, np.stack(y), nyquist, sigma, onesided, device)
    ax = ax / (wave_shape[0] * wave_shape[1])
    cropped = spectrum.index_select(-2, keep_x).index_select(-1, keep_y)
    partial = torch.matmul(ax[:, None], cropped)  # (B, C, nx, Ky)
    ay_t = ay.transpose(-1, -2)[:, None]
    if onesided:
        # Real field: Hermitian pairs along y are folded into the weights of ay; keep the real part.
        out = torch.matmul(partial.real, ay_t.real) - torch.matmul(partial.imag, ay_t.imag)
    else:
        out = torch.matmul(partial, ay_t)
    if fill is not None:
        inside = (inside_x[:, :, None] & inside_y[:, None, :])[:, None]
        out = torch.where(inside, out, torch.tensor(fill, dtype=out.dtype, device=device))
    return out


def _series_matrix(
    n: int,
    sampling: float,
    positions: np.ndarray,
    nyquist: Sequence[float],
    sigma: Sequence[float],
    onesided: bool,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Matrix (B, n_image, K) evaluating the kept Fourier components of one axis at ``positions``.

    Returns the matrix (complex64), the kept FFT indices (K,) and which positions
    lie inside the periodic cell (B, n_image).
    """
    k = np.arange(n // 2 + 1) if onesided else np.fft.fftfreq(n, 1 / n).round().astype(np.int64)
    freq = k / (n * sampling)  # [1/Å]
    keep = np.abs(freq)[None, :] <= np.asarray(nyquist)[:, None] * (1 + 1e-9)  # (B, n_freq)
    index = np.flatnonzero(keep.any(axis=0))
    k, freq, keep = k[index], freq[index], keep[:, index]
    turns = np.mod(positions[:, :, None] * freq[None, None, :], 1.0)  # float64, reduced before the exponential
    matrix = np.exp(2j * np.pi * turns)
    # The unpaired Nyquist bin of an even grid stands for cos(π x / ws), the mean of its ± frequencies.
    nyquist_bin = np.abs(k) * 2 == n
    matrix[:, :, nyquist_bin] = np.cos(2 * np.pi * turns[:, :, nyquist_bin])
    if onesided:
        # Real field: the bins 0 < k < n/2 stand for themselves and their conjugates.
        matrix[:, :, (k > 0) & ~nyquist_bin] *= 2
    blur = np.exp(-2 * np.pi**2 * (np.asarray(sigma)[:, None] * freq[None, :]) ** 2)
    matrix *= (keep * blur)[:, None, :]
    inside = (positions >= 0) & (positions < n * sampling)
    return (
        torch.as_tensor(matrix, dtype=torch.complex64, device=device),
        torch.as_tensor(index, device=device),
        torch.as_tensor(inside, device=device),
    )


def _common(micro: Sequence[MicroscopeParameters], get: Callable[[MicroscopeParameters], Any], what: str) -> Any:
    values = {get(m) for m in micro}
    if len(values) != 1:
        raise TemnnError(f"form_images(): the samples of one batch must share the {what}, got {sorted(values)}")
    return values.pop()


def _all_or_none(micro: Sequence[MicroscopeParameters], name: str) -> list[Any] | None:
    values = [getattr(m, name) for m in micro]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise TemnnError(f"form_images(): '{name}' is set for some samples of the batch and None for others")
    return values
