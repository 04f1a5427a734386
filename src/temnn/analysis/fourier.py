"""Local Fourier transforms of one tracked particle over time ("FFT along time axis").

For every frame the particle is cropped with its own mask into a window of fixed
size centred on its bounding box, the mask edge is softened by a Gaussian
(apodisation, so the particle's outline does not streak the transform), and the
power spectrum is taken (thesis section 6.2, fig. 6.4). Fourier peaks, i.e. lattice
planes, are then followed through the spectra: their normalised mean intensity in
a window and their angle per frame (fig. 6.5).

Spectra are fftshifted: zero frequency sits at pixel (n // 2, n // 2) of an n × n
spectrum and one spectrum pixel is 1 / (n · sampling) [1/Å]. Spatial frequencies
are (qx, qy) [1/Å] along the image axes (x, y); angles are atan2(qy, qx) [°].
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage as ndi

from ..errors import TemnnError
from ..checks import positive_sampling
from .peaks import _regional_maxima, refine_peaks

__all__ = [
    "crop_size",
    "apodised_power_spectrum",
    "instance_power_spectra",
    "strongest_fourier_peaks",
    "track_fourier_peaks",
    "show_power_spectrum",
    "plot_fourier_peaks",
]


def crop_size(labels: Iterable[np.ndarray], track_id: int, *, pad: int = 8, oversample: float = 2.0) -> int:
    """Side of a square crop that holds the particle in every frame [pixels].

    Parameters
    ----------
    labels
        Iterable of (nx, ny) track-id frames.
    track_id
        The particle.
    pad
        Margin added on each side of the largest bounding box [pixels].
    oversample
        The crop is this many times the padded particle, zero-filled, so that a
        Fourier peak spans several spectrum pixels and its position refines to
        a small fraction of a pixel (2 gives ~0.03° on the lattice peak of a
        30 Å particle; 1 gives errors near 1°).

    Returns
    -------
    int
        A size that factors into small primes (fast FFT), at least
        oversample · (largest bounding-box side + 2·pad).

    Examples
    --------
    >>> frame = np.zeros((64, 64), np.uint16)
    >>> frame[20:30, 25:31] = 7  # particle 7: a 10 × 6 pixel box
    >>> crop_size([frame], 7)  # ≥ 2 · (10 + 2 · 8) = 52
    54
    """
    extent = 0
    for frame in labels:
        ix, iy = np.nonzero(np.asarray(frame) == track_id)
        if len(ix):
            extent = max(extent, int(ix.max() - ix.min() + 1), int(iy.max() - iy.min() + 1))
    if extent == 0:
        raise TemnnError(f"track_id: particle {track_id} is in none of the frames; pick an id from the tracked labels")
    if oversample < 1:
        raise TemnnError(f"oversample: expected a factor of at least 1, got {oversample!r}")
    return int(sp_fft.next_fast_len(int(math.ceil(oversample * (extent + 2 * int(pad)))), real=False))


def apodised_power_spectrum(image: np.ndarray, mask: np.ndarray, *, size: int, sigma: float = 2.0) -> np.ndarray:
    """Power spectrum of the masked region of an image, apodised by a Gaussian edge.

    Parameters
    ----------
    image
        (nx, ny) image.
    mask
        (nx, ny) boolean mask of the region (one particle).
    size
        Side of the square crop centred on the mask's bounding box [pixels]; parts
        outside the image are zero.
    sigma
        Standard deviation of the Gaussian that softens the mask edge [pixels]: a
        filter on the pixel grid of the crop, like ``size`` (see the units section
        of the physics conventions).

    Returns
    -------
    np.ndarray
        (size, size) fftshifted power spectrum |F|² [image units² · pixels²].

    Notes
    -----
    The weighted mean of the region is subtracted before the transform so that
    the zero-frequency peak of the window does not swamp the lattice peaks.
    """
    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if image.shape != mask.shape or image.ndim != 2:
        raise TemnnError(f"image {image.shape} and mask {mask.shape} must be (nx, ny) arrays of the same shape")
    ix, iy = np.nonzero(mask)
    if len(ix) == 0:
        raise TemnnError("mask is empty: the particle is not in this frame")
    size = int(size)
    corner = (int(ix.min() + ix.max() + 1 - size) // 2, int(iy.min() + iy.max() + 1 - size) // 2)
    crop, crop_mask = _crop(image, corner, size), _crop(mask.astype(np.float64), corner, size)
    window = ndi.gaussian_filter(crop_mask, float(sigma), mode="constant")
    mean = float(np.sum(window * crop) / np.sum(window))
    return np.abs(sp_fft.fftshift(sp_fft.fft2((crop - mean) * window))) ** 2


def _crop(array: np.ndarray, corner: tuple[int, int], size: int) -> np.ndarray:
    """A (size, size) window of ``array`` starting at ``corner``; zero outside the array."""
    out = np.zeros((size, size), dtype=array.dtype)
    x0, y0 = corner
    sx = slice(max(x0, 0), min(x0 + size, array.shape[0]))
    sy = slice(max(y0, 0), min(y0 + size, array.shape[1]))
    out[sx.start - x0:sx.stop - x0, sy.start - y0:sy.stop - y0] = array[sx, sy]
    return out


def instance_power_spectra(images: Iterable[np.ndarray], labels: Iterable[np.ndarray], track_id: int, *,
                           size: int | None = None, sigma: float = 2.0) -> Iterator[np.ndarray]:
    """Apodised power spectrum of one tracked particle in every frame (thesis fig. 6.4).

    Parameters
    ----------
    images
        Iterable of (nx, ny) images.
    labels
        Iterable of the matching (nx, ny) track-id frames (from :func:`~temnn.analysis.tracking.track`).
    track_id
        The particle.
    size
        Crop side [pixels]; default: :func:`crop_size` of the particle with a margin
        of 3·sigma and twofold oversampling, which reads ``labels`` once more (so it
        must be an array or another re-iterable, not a generator).
    sigma
        Standard deviation of the Gaussian mask edge [pixels].

    Yields
    ------
    np.ndarray
        (size, size) spectrum per frame; all NaN where the particle is absent.
    """
    if size is None:
        if iter(labels) is labels:
            raise TemnnError("size: give the crop size in pixels when labels is a one-pass iterator (a generator)")
        size = crop_size(labels, track_id, pad=int(math.ceil(3 * sigma)))
    if int(size) < 4:
        raise TemnnError(f"size: expected a crop of at least 4 pixels, got {size!r}")

    def spectra() -> Iterator[np.ndarray]:
        for image, frame in zip(images, labels):
            mask = np.asarray(frame) == track_id
            if mask.any():
                yield apodised_power_spectrum(image, mask, size=int(size), sigma=sigma)
            else:
                yield np.full((int(size), int(size)), np.nan)

    return spectra()


def strongest_fourier_peaks(spectrum: np.ndarray, sampling: float, *, n: int = 2, dc_radius: float = 3.0,
                            min_distance: float = 3.0) -> np.ndarray:
    """The strongest peaks of a power spectrum, one of each (q, −q) pair.

    Parameters
    ----------
    spectrum
        (n, n) fftshifted power spectrum.
    sampling
        Real-space pixel size of the transformed image [Å/pixel].
    n
        Number of peaks.
    dc_radius
        Radius around zero frequency that is ignored (the window's own transform)
        [spectrum pixels].
    min_distance
        Smallest distance between two peaks [spectrum pixels of 1 / (n · sampling) 1/Å]:
        a distance in the spectrum, not a length.

    Returns
    -------
    np.ndarray
        (≤ n, 2) peak frequencies (qx, qy) [1/Å], strongest first, with qy > 0
        (or qy = 0 and qx > 0).
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    dq, kx, ky = _frequency_grid(spectrum, sampling)
    upper = (ky > 0) | ((ky == 0) & (kx > 0))
    _, _, pixels = _regional_maxima(spectrum, min_distance, mask=upper & (np.hypot(kx, ky) > dc_radius))
    pixels = pixels[:n]
    centre = spectrum.shape[0] // 2
    return (pixels - centre) * dq


def _frequency_grid(spectrum: np.ndarray, sampling: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Frequency step [1/Å] and the pixel offsets (kx, ky) from zero frequency."""
    if spectrum.ndim != 2 or spectrum.shape[0] != spectrum.shape[1]:
        raise TemnnError(f"spectrum: expected a square (n, n) power spectrum, got shape {spectrum.shape}")
    size = spectrum.shape[0]
    dq = 1.0 / (size * positive_sampling(sampling))
    k = np.arange(size) - size // 2
    return dq, k[:, None] * np.ones((1, size)), np.ones((size, 1)) * k[None, :]


def track_fourier_peaks(spectra: Iterable[np.ndarray], sampling: float, *,
                        peaks: Sequence[tuple[float, float]] | None = None, n_peaks: int = 2,
                        window: int = 30, dc_radius: float = 3.0) -> list[dict[str, float]]:
    """Normalised intensity and angle of Fourier peaks in every frame (thesis fig. 6.5).

    Each spectrum is divided by its maximum outside ``dc_radius``; a peak's
    intensity is the mean of that in a ``window`` × ``window`` square around it
    (thesis: 30 × 30 pixels). The peak position is refined to sub-pixel precision
    (a Gaussian fit, :func:`~temnn.analysis.peaks.refine_peaks`) around the
    brightest pixel of the square, and the square follows the peak from frame to
    frame, so a rotating or straining lattice stays tracked.

    Parameters
    ----------
    spectra
        Iterable of (n, n) fftshifted power spectra (from :func:`instance_power_spectra`).
    sampling
        Real-space pixel size of the images [Å/pixel].
    peaks
        Starting peak frequencies (qx, qy) [1/Å]; default: the ``n_peaks``
        strongest in the first spectrum with the particle.
    n_peaks
        Number of peaks found when ``peaks`` is None.
    window
        Side of the square around each peak [spectrum pixels].
    dc_radius
        Radius around zero frequency left out of the normalisation [spectrum pixels].

    Returns
    -------
    list of dict
        One row per frame and peak: ``frame``, ``peak``, ``qx_inv_angstrom``,
        ``qy_inv_angstrom``, ``q_inv_angstrom``, ``spacing_angstrom`` (1/|q|),
        ``angle_deg`` (unwrapped across frames) and ``intensity`` (fraction of the
        maximum); NaN where the particle is absent.
    """
    window = int(window)
    if window < 3:
        raise TemnnError(f"window: expected at least 3 spectrum pixels, got {window!r}")
    rows: list[dict[str, float]] = []
    centres: np.ndarray | None = None if peaks is None else np.asarray(peaks, dtype=np.float64).reshape(-1, 2)
    pixel_centres: np.ndarray | None = None
    last_angle: np.ndarray | None = None
    for t, spectrum in enumerate(spectra):
        spectrum = np.asarray(spectrum, dtype=np.float64)
        dq, kx, ky = _frequency_grid(spectrum, sampling)
        present = bool(np.isfinite(spectrum).all())
        if present and pixel_centres is None:
            if centres is None:
                centres = strongest_fourier_peaks(spectrum, sampling, n=n_peaks, dc_radius=dc_radius)
                if len(centres) == 0:
                    raise TemnnError("no Fourier peaks found in the first spectrum; give peaks=[(qx, qy), ...] in 1/Å")
            pixel_centres = centres / dq
            last_angle = np.degrees(np.arctan2(centres[:, 1], centres[:, 0]))
        if not present or pixel_centres is None:
            n = n_peaks if centres is None else len(centres)
            rows.extend(_row(t, i, np.nan, np.nan, np.nan, np.nan) for i in range(n))
            continue
        norm = float(np.max(np.where(np.hypot(kx, ky) > dc_radius, spectrum, 0.0)))
        origin = spectrum.shape[0] // 2
        for i, centre in enumerate(pixel_centres):
            box = _window(spectrum, origin + centre, window)
            intensity = float(np.mean(spectrum[box])) / norm if norm > 0 else np.nan
            sub = spectrum[box]
            brightest = np.array(np.unravel_index(np.argmax(sub), sub.shape)) + [box[0].start, box[1].start]
            position = refine_peaks(spectrum, brightest[None], window=2, method="gaussian")[0] - origin
            pixel_centres[i] = position
            q = position * dq
            angle = math.degrees(math.atan2(q[1], q[0]))
            angle += 360.0 * round((last_angle[i] - angle) / 360.0)  # unwrap against the previous frame
            last_angle[i] = angle
            rows.append(_row(t, i, q[0], q[1], angle, intensity))
    return rows


def _window(spectrum: np.ndarray, centre: np.ndarray, side: int) -> tuple[slice, slice]:
    """Slices of a side × side square around a (fractional) pixel, clipped to the spectrum."""
    start = np.rint(centre - side / 2).astype(int)
    start = np.clip(start, 0, np.array(spectrum.shape) - side)
    return slice(start[0], start[0] + side), slice(start[1], start[1] + side)


def _row(frame: int, peak: int, qx: float, qy: float, angle: float, intensity: float) -> dict[str, float]:
    q = float(np.hypot(qx, qy))
    return {"frame": frame, "peak": peak, "qx_inv_angstrom": float(qx), "qy_inv_angstrom": float(qy),
            "q_inv_angstrom": q, "spacing_angstrom": 1.0 / q if q > 0 else float("nan"),
            "angle_deg": float(angle), "intensity": float(intensity)}


def show_power_spectrum(ax: Any, spectrum: np.ndarray, sampling: float, *, title: str | None = None) -> Any:
    """Draw a power spectrum on a log scale with frequency axes qx (right), qy (up) [1/Å].

    Parameters
    ----------
    ax
        Matplotlib axes.
    spectrum
        (n, n) fftshifted power spectrum.
    sampling
        Real-space pixel size of the image [Å/pixel].
    title
        Panel title.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    dq, _, _ = _frequency_grid(spectrum, sampling)
    size = spectrum.shape[0]
    low, high = (-(size // 2) - 0.5) * dq, (size - size // 2 - 0.5) * dq
    positive = spectrum[spectrum > 0]
    floor = float(positive.min()) if positive.size else 1.0
    artist = ax.imshow(np.log10(np.maximum(spectrum, floor)).T, origin="lower", cmap="inferno",
                       extent=(low, high, low, high), interpolation="nearest")
    ax.set_xlabel("qx [1/Å]")
    ax.set_ylabel("qy [1/Å]")
    if title:
        ax.set_title(title)
    return artist


def plot_fourier_peaks(rows: Sequence[dict[str, float]], *, path: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """Intensity and angle of tracked Fourier peaks against frame (thesis fig. 6.5 b, c).

    Parameters
    ----------
    rows
        Table from :func:`track_fourier_peaks`.
    path
        Save the figure there (atomically) when given.

    Returns
    -------
    (figure, axes)
        Two axes: normalised intensity and angle [°] against frame.
    """
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    fig, axes = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for peak in sorted({int(r["peak"]) for r in rows}):
        mine = [r for r in rows if int(r["peak"]) == peak]
        frames = [r["frame"] for r in mine]
        spacing = next((r["spacing_angstrom"] for r in mine if np.isfinite(r["spacing_angstrom"])), np.nan)
        label = f"peak {peak} ({spacing:.2f} Å)"
        axes[0].plot(frames, [r["intensity"] for r in mine], marker=".", label=label)
        axes[1].plot(frames, [r["angle_deg"] for r in mine], marker=".", label=label)
    axes[0].set_ylabel("intensity [fraction of max]")
    axes[1].set_ylabel("angle [°]")
    axes[1].set_xlabel("frame")
    if axes[0].lines:
        axes[0].legend(fontsize="small")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes
