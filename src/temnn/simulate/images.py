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
2. The intensity |ψ|² is formed on the native grid (for a frozen-phonon sample,
   the mean of the intensities of its configurations' image waves, each after
   the CTF: an exposure averages the snapshots incoherently), or on a coarser
   grid of the same cell when the envelopes allow it (:func:`_intensity_grid`): the image
   wave's spectrum is cut where the aperture or the temporal envelope is below
   e⁻¹⁶ ≈ 1e-7 (beyond float32 precision), and the grid is just fine enough
   that |ψ|² has no aliasing within the image's band. The result is the same
   to float32 precision and often 2-3× cheaper.
3. :func:`resample` evaluates the intensity on the image's grid: its Fourier
   series, cut at the image's Nyquist frequency 1/(2s) along x and y (the exact
   anti-aliasing band of the image grid) and multiplied by the blur transfer
   function exp(-2π²σ²q²), is summed at the image pixel positions. The sum is
   separable: one chirp-z transform per axis (:class:`_AxisSeries`), with no
   interpolation kernel, so sub-pixel origins and per-image pixel sizes are
   exact (trigonometric interpolation of the periodic, band-limited field). Pixels
   outside the multislice cell are vacuum: intensity 1 (the thesis zero-pads,
   but a dark frame around the field is not what a microscope records;
   :func:`~temnn.simulate.geometry.choose_geometry` warns when it happens).
4. :func:`~temnn.simulate.detector.detect` adds shot noise, the MTF and readout noise.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import scipy.fft
import torch

from ..errors import TemnnError
from .detector import detect
from .draw import ABERRATION_KEYS, MicroscopeParameters
from .geometry import ImageGeometry, choose_geometry
from .optics import focal_series, polar_frequencies, wavelength

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
    waves : torch.Tensor, complex, shape (B, Nx, Ny) or (B, K, Nx, Ny)
        Exit waves on one native grid, indexed ``[ix, iy]``, vacuum amplitude 1; with
        a K axis, the waves of each sample's K frozen-phonon configurations. The CTF
        multiplies every configuration's wave and the image is the mean of their
        intensities, ``(1/K) Σ_k |ψ_k ⊗ h|²``, not the intensity of the mean wave.
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
    if waves.ndim not in (3, 4) or not waves.is_complex():
        raise TemnnError(
            "form_images(): waves must be a complex (B, Nx, Ny) tensor, or (B, K, Nx, Ny) for K frozen-phonon "
            f"configurations, got {waves.dtype} {tuple(waves.shape)}"
        )
    configurations = waves.ndim == 4
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
    sx, sy = _pair(wave_sampling)
    extent = (waves.shape[-2] * sx, waves.shape[-1] * sy)
    grid = _intensity_grid(tuple(waves.shape[-2:]), extent, lam, micro, geometries)
    grid_sampling = (extent[0] / grid[0], extent[1] / grid[1])
    q, phi = polar_frequencies(grid, grid_sampling, device=device, dtype=torch.float32)

    def column(values: list[float | None]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).reshape(batch, 1, 1)

    coefficients = {key: column([getattr(m, key) for m in micro]) for key in ABERRATION_KEYS}
    focal_spread = column([m.focal_spread for m in micro])
    angular_spread = column([m.angular_spread for m in micro])
    apertures = [m.aperture for m in micro]
    semiangle = None if all(a is None for a in apertures) else column([math.inf if a is None else a for a in apertures])

    band = _Band(grid, grid_sampling, geometries, [m.blur for m in micro], onesided=True)
    # The wave's spectrum on the smaller grid, scaled so that ifft2 there gives the same wave.
    spectrum = _fft_crop(torch.fft.fft2(waves), grid) * (grid[0] * grid[1] / (waves.shape[-2] * waves.shape[-1]))
    intensity_spectra = []
    transfer_functions = focal_series(
        q,
        phi,
        lam,
        coefficients,
        [column([m.defocus[c] for m in micro]) for c in range(series)],
        focal_spread=focal_spread,
        angular_spread=angular_spread,
        semiangle=semiangle,
    )
    for t in transfer_functions:
        image_wave = torch.fft.ifft2(spectrum * (t.unsqueeze(-3) if configurations else t))
        intensity = torch.view_as_real(image_wave).square().sum(dim=-1)
        if configurations:
            intensity = intensity.mean(dim=1)  # incoherent average over the configurations
        intensity_spectra.append(band.crop(torch.fft.rfft2(intensity)))
    images = band.evaluate(torch.stack(intensity_spectra, dim=1), fill=1.0)
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
    band = _Band(tuple(field.shape[-2:]), wave_sampling, geometries, sigma, onesided=onesided)
    out = band.evaluate(band.crop(spectrum), fill=fill)
    return out[:, 0] if squeeze else out


# --------------------------------------------------------------------- helpers
class _Band:
    """The Fourier components of the wave grid that the images keep, and their sum at the image pixels.

    ``crop`` selects the kept components of (B, C, Nx, Ny[/2+1]) spectra; ``evaluate``
    sums the Fourier series at each image's pixels, one axis after the other
    (:class:`_AxisSeries`).
    """

    def __init__(
        self,
        wave_shape: tuple[int, int],
        wave_sampling: float | tuple[float, float],
        geometries: Sequence[ImageGeometry],
        sigma: Sequence[float],
        *,
        onesided: bool,
    ) -> None:
        shape = geometries[0].shape
        if any(g.shape != shape for g in geometries):
            raise TemnnError(f"images of one batch must share one shape, got {sorted({g.shape for g in geometries})}")
        sx, sy = _pair(wave_sampling)
        steps = [g.sampling for g in geometries]
        self.onesided = onesided
        self._x = _AxisSeries(wave_shape[0], sx, [g.origin[0] for g in geometries], steps, shape[0], sigma, False)
        self._y = _AxisSeries(wave_shape[1], sy, [g.origin[1] for g in geometries], steps, shape[1], sigma, onesided)
        self._norm = 1 / (wave_shape[0] * wave_shape[1])

    def crop(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The kept components of spectra (..., Nx, Ny[/2+1]), in order of increasing frequency."""
        keep_x = torch.as_tensor(self._x.index, device=spectrum.device)
        keep_y = torch.as_tensor(self._y.index, device=spectrum.device)
        return spectrum.index_select(-2, keep_x).index_select(-1, keep_y)

    def evaluate(self, cropped: torch.Tensor, *, fill: float | complex | None) -> torch.Tensor:
        """Sum the series of (B, C, Kx, Ky) cropped spectra at the image pixels: (B, C, nx, ny)."""
        out = self._y.evaluate(self._x.evaluate(cropped * self._norm, dim=-2), dim=-1)
        if self.onesided:
            out = out.real  # Hermitian pairs along y are folded into the weights: the sum is real
        if fill is not None:
            inside = torch.as_tensor(self._x.inside[:, :, None] & self._y.inside[:, None, :], device=out.device)
            out = torch.where(inside[:, None], out, torch.tensor(fill, dtype=out.dtype, device=out.device))
        return out


class _AxisSeries:
    """Sum of the kept Fourier components of one axis at each image's pixel positions.

    Image b samples x_i = x0_b + i·s_b, i < n. Its sum over the contiguous kept
    frequencies k_j = k_lo + j (in units of 1/L, L the cell),

        g_i = Σ_j a_j exp(2πi k_j x_i / L),

    is a chirp-z transform: with θ = 2π s/L and i·j = (i² + j² - (i - j)²)/2 it is a
    convolution with the chirp exp(-iθd²/2), done with FFTs (Bluestein's
    algorithm). That costs O((n + K) log(n + K)) per line instead of the O(n·K) of
    a matrix product, for any pixel size and origin (torch has no chirp-z
    transform). Phases are reduced modulo 2π in float64 before the complex64 arrays.
    """

    def __init__(
        self,
        n: int,
        sampling: float,
        origins: Sequence[float],
        steps: Sequence[float],
        count: int,
        sigma: Sequence[float],
        onesided: bool,
    ) -> None:
        length = n * sampling
        # Two-sided, an even grid's unpaired Nyquist bin appears twice, at ±n/2, with half weight each.
        k = np.arange(n // 2 + 1) if onesided else np.arange(-(n // 2), n // 2 + 1)
        freq = k / length  # [1/Å]
        steps_a, origins_a = np.asarray(steps, float)[:, None], np.asarray(origins, float)[:, None]
        keep = np.abs(freq)[None, :] <= 1 / (2 * steps_a) * (1 + 1e-9)  # each image's band (B, K)
        used = np.flatnonzero(keep.any(axis=0))
        k, freq, keep = k[used], freq[used], keep[:, used]
        weight = keep * np.exp(-2 * np.pi**2 * (np.asarray(sigma, float)[:, None] * freq[None, :]) ** 2)
        nyquist_bin = np.abs(k) * 2 == n
        if onesided:
            weight[:, (k > 0) & ~nyquist_bin] *= 2  # a real field: each bin stands for itself and its conjugate
        else:
            weight[:, nyquist_bin] *= 0.5  # cos(π x/ws) = (e^{iπx/ws} + e^{-iπx/ws}) / 2
        self.index = np.mod(k, n)
        j = np.arange(len(k))[None, :]
        i = np.arange(count)[None, :]
        ratio = steps_a / length  # θ / 2π
        self._pre = _phase(weight, k[None, :] * origins_a / length + ratio * j**2 / 2)
        self._post = _phase(1.0, k[0] * ratio * i + ratio * i**2 / 2)
        self._size = scipy.fft.next_fast_len(len(k) + count - 1)
        d = np.arange(-(len(k) - 1), count)
        chirp = np.zeros((len(steps), self._size), np.complex128)
        chirp[:, np.mod(d, self._size)] = _phase(1.0, -ratio * d[None, :] ** 2 / 2)
        self._chirp = np.fft.fft(chirp)
        self._count = count
        positions = origins_a + steps_a * i
        self.inside = (positions >= 0) & (positions < length)

    def evaluate(self, values: torch.Tensor, dim: int) -> torch.Tensor:
        """Sum the kept components along ``dim`` of (B, …) values; that axis becomes the pixels."""
        shape = [values.shape[0]] + [1] * (values.ndim - 1)
        shape[dim] = -1

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.complex64, device=values.device).reshape(shape)

        spectrum = torch.fft.fft(values * put(self._pre), n=self._size, dim=dim)
        convolved = torch.fft.ifft(spectrum * put(self._chirp), dim=dim)
        return convolved.narrow(dim, 0, self._count) * put(self._post)


def _phase(weight: np.ndarray | float, turns: np.ndarray) -> np.ndarray:
    """weight · exp(2πi · turns), the turns reduced modulo 1 in float64 first."""
    angle = 2 * np.pi * np.mod(turns, 1.0)
    return weight * (np.cos(angle) + 1j * np.sin(angle))


def _intensity_grid(
    wave_shape: tuple[int, int],
    extent: tuple[float, float],
    wavelength: float,
    micro: Sequence[MicroscopeParameters],
    geometries: Sequence[ImageGeometry],
) -> tuple[int, int]:
    """Smallest FFT-friendly grid of the cell on which the images' band of |ψ|² is exact.

    The image wave has no components (above e⁻¹⁶ of the wave's) beyond q_max, the
    tighter of the aperture and the temporal-envelope cut; |ψ|² then spans
    ±2·q_max, and a grid of M points keeps the image band |k| ≤ K free of
    aliasing when M > 2·K_ψ + K (in units of the cell's frequency 1/L).
    """
    cut = []
    for m in micro:
        limits = [math.inf]
        if m.aperture is not None:
            limits.append(m.aperture * 1e-3 / wavelength)
        if m.focal_spread > 0:
            # (π Δ α² / (2λ))² = 16 with α = λ q
            limits.append(math.sqrt(2 * math.sqrt(_NEGLIGIBLE) / (math.pi * m.focal_spread * wavelength)))
        cut.append(min(limits))
    q_max = max(cut)
    grid = []
    for axis, n in enumerate(wave_shape):
        k_image = max(math.floor(extent[axis] / (2 * g.sampling) * (1 + 1e-9)) for g in geometries)  # as _AxisSeries
        needed = 2 * math.ceil(q_max * extent[axis]) + k_image + 1 if math.isfinite(q_max) else n
        grid.append(n if needed >= n else scipy.fft.next_fast_len(needed))
    return grid[0], grid[1]


def _fft_crop(spectrum: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The components of the smaller FFT grid ``shape`` (same cell, lower frequencies)."""
    for axis, m in zip((-2, -1), shape):
        n = spectrum.shape[axis]
        if m < n:
            k = torch.fft.fftfreq(m, 1 / m).round().long() % n
            spectrum = spectrum.index_select(axis, k.to(spectrum.device))
    return spectrum


def _pair(sampling: float | tuple[float, float]) -> tuple[float, float]:
    return (float(sampling), float(sampling)) if np.isscalar(sampling) else (float(sampling[0]), float(sampling[1]))


_NEGLIGIBLE = 16.0
"""Envelope exponent beyond which a wave component counts as zero: e⁻¹⁶ ≈ 1.1e-7."""


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
