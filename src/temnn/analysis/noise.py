"""Detector noise from vacuum: the MTF and the readout noise N0 (publication II, Appendix A.3).

The noise of a vacuum region is white shot noise filtered by the detector's MTF
plus white readout noise added after it (thesis section 1.3). Its power spectrum
is therefore the parametric MTF of Lee et al. up to a scale,
publication II eq. A.1,

    P(q̃) = (c1 - c2) / (1 + (q̃/c0)^c3) + c2,    q̃ = q/q_N = 2·q·s,

and the normalised MTF has c0, c3 and the floor C = c2/c1 (thesis eq. 1.25).
:mod:`temnn.simulate.detector` simulates exactly this spectrum (it filters the
shot noise by √MTF; the signal by the floor-free core), so a fit here recovers the parameters a simulation used, and the
fitted floor over a dose series follows

    C(N_D) = (N_D · C_det + N0) / (N_D + N0)

(:func:`temnn.simulate.detector.fitted_floor`), from which N0 is fitted
(publication II, fig. 5).

The spectrum of one window (:func:`radial_power_spectrum`):

1. **Outliers.** A hot pixel of value v adds a flat power v²/(ni·nj) to every
   frequency and raises the floor (one pixel at 1000× the mean of a 512² frame
   at 20 e⁻/pixel lifts C from 0.15 to 0.99). Pixels further than
   ``outlier_threshold`` (default 10) half-widths of the central 99.8 % of the
   values from the median are replaced by the median of their 3 × 3
   neighbourhood before the FFT. For Gaussian noise that is ~31 standard
   deviations: a pixel below it adds less than 0.4 % of the noise power of a
   512² window. A median-absolute-deviation scale is not used because at
   doses below an electron per pixel the counts are sparse (MAD = 0) and it
   would delete the single counts whose power is being measured. Up to 0.1 %
   of the pixels may be outliers.
2. **Background and taper.** The least-squares quadratic surface is subtracted
   (illumination gradient and curvature), the window is multiplied by a
   separable taper and its weighted mean removed. A hard-edged window of a
   region that is not periodic puts a discontinuity at the window edge, whose
   power falls off only as 1/q² along the axes and inflates the low-q spectrum,
   i.e. c1 and c0. The default Tukey taper (cosine edges over 25 % of the side)
   removes that step while keeping most of the pixels' weight; the Hann taper
   suppresses leakage further at the price of precision, ``None`` keeps the
   hard edge. Measured on ten 512² frames of simulated vacuum (c0 = 0.3, c3 = 3,
   C = 0.15, 20 e⁻/pixel): the scatter of c0 is 0.004 (none), 0.006 (Tukey) and
   0.013 (Hann), of C 0.004, 0.006 and 0.009; with a 5 % gradient and curvature
   plus a 1 % non-polynomial ripple added, all three stay within 0.01 of the
   true c0. The periodogram is divided by Σw², so white noise of variance v
   has P = v at every q̃ whatever the taper.
3. **Azimuthal average** over shells one frequency pixel wide (of the shorter
   side) up to Nyquist along the axes (q̃ ≤ 1). q = 0 is left out, and so are
   the next :data:`SKIPPED_SHELLS` shells in the fit: the quadratic background
   and the taper's mean remove most of their power.

The fit (:func:`fit_mtf`) is weighted least squares with the floor parametrised
as C ∈ [0, 1]: a shell of n Fourier pixels has a relative standard error of about
1/√(n/2) (exponentially distributed periodogram values, Hermitian pairs), so the
few pixels of the lowest shells do not dominate. It is run twice, the second
time with the weights of the first fit's curve.

Arrays index the window as ``[i, j]``; a window is given by the corner
``(i0, j0)`` and a side ``size`` [pixels] and is ``image[i0:i0+size, j0:j0+size]``
(temnn's ``[ix, iy]`` convention for x and y).

References
----------
Lee, Z., Rose, H., Lehtinen, O., Biskupek, J. and Kaiser, U. (2014). *Ultramicroscopy* 145, 3-12
(the parametric MTF).
Larsen, M. H. L., Lomholdt, W. B., Nuñez Valencia, C., Hansen, T. W. and Schiøtz, J. (2023).
Quantifying noise limitations of neural network segmentations in high-resolution transmission
electron microscopy, arXiv:2302.12629 (publication II: eq. 1, A.1, figs. 4, 5, A.12-A.14).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage as ndi
from scipy.optimize import curve_fit, least_squares

from ..errors import TemnnError
from ..simulate.detector import fitted_floor, parametric_mtf

__all__ = [
    "PowerSpectrum",
    "MTFFit",
    "ReadoutFit",
    "DoseSeriesFit",
    "replace_outliers",
    "radial_power_spectrum",
    "find_vacuum",
    "vacuum_window",
    "fit_mtf",
    "fit_readout",
    "fit_dose_series",
    "plot_mtf_fit",
    "plot_dose_series",
]

MIN_WINDOW = 16
"""Smallest window side [pixels] whose spectrum has enough shells for a four-parameter fit."""

GOOD_FIT_R2 = 0.98
"""R² from which a fit counts as good (publication II marks fits with R² ≥ 0.98)."""

TAPERS = ("tukey", "hann", None)

SKIPPED_SHELLS = 3
"""Lowest frequency shells left out of the fit (background subtraction empties them)."""


@dataclass(frozen=True)
class PowerSpectrum:
    """Azimuthally averaged power spectrum of a vacuum window.

    Attributes
    ----------
    q : numpy.ndarray
        Mean normalised frequency q̃ = q/q_N of each shell [1], in (0, 1].
    power : numpy.ndarray
        Mean periodogram |FFT|²/Σw² of each shell [(image units)² per pixel].
    counts : numpy.ndarray
        Fourier pixels per shell (times the number of windows averaged).
    sampling : float or None
        Pixel size [Å/pixel], when known.
    """

    q: np.ndarray
    power: np.ndarray
    counts: np.ndarray
    sampling: float | None = None

    def frequencies(self) -> np.ndarray:
        """Shell frequencies q = q̃/(2s) [1/Å]; needs ``sampling``."""
        if self.sampling is None:
            raise TemnnError("power spectrum: frequencies in 1/Å need the pixel size; pass sampling= [Å/pixel]")
        return self.q / (2 * self.sampling)


@dataclass(frozen=True)
class MTFFit:
    """Publication II eq. A.1 fitted to the power spectrum of one vacuum window.

    Attributes
    ----------
    c0 : float
        Half-width of the MTF core [fraction of Nyquist].
    c1 : float
        Power as q̃ → 0 [(image units)² per pixel].
    c2 : float
        Power as q̃ → ∞ [(image units)² per pixel].
    c3 : float
        Exponent of the fall-off [1].
    floor : float
        C = c2/c1, the floor of the normalised MTF [1].
    r2 : float
        Coefficient of determination of the fit to the shell averages [1].
    stderr : dict
        Standard errors of ``c0``, ``c3`` and ``floor`` from the fit's covariance.
    spectrum : PowerSpectrum
        The fitted spectrum.
    mean : float
        Mean value of the window [image units] (counts, before any subtraction).
    """

    c0: float
    c1: float
    c2: float
    c3: float
    floor: float
    r2: float
    stderr: dict[str, float]
    spectrum: PowerSpectrum = field(repr=False)
    mean: float = float("nan")

    def raw(self, q: np.ndarray) -> np.ndarray:
        """The fitted spectrum (eq. A.1) at normalised frequencies ``q`` [1]."""
        return self.c1 * parametric_mtf(np.asarray(q, dtype=np.float64), self.c0, self.c3, self.floor)

    def mtf(self, q: np.ndarray) -> np.ndarray:
        """The normalised MTF (eq. 1.25) at normalised frequencies ``q`` [1]."""
        return parametric_mtf(np.asarray(q, dtype=np.float64), self.c0, self.c3, self.floor)


@dataclass(frozen=True)
class ReadoutFit:
    """C(N_D) = (N_D·C_det + N0)/(N_D + N0) fitted over a dose series (publication II, fig. 5).

    Attributes
    ----------
    detector_floor : float
        C_det, the MTF floor of the shot noise alone (the high-dose limit) [1].
    readout : float
        N0, the readout noise [electrons/pixel].
    stderr : dict
        Standard errors of ``detector_floor`` and ``readout``.
    r2 : float
        Coefficient of determination [1].
    """

    detector_floor: float
    readout: float
    stderr: dict[str, float]
    r2: float

    def floor(self, electrons: np.ndarray) -> np.ndarray:
        """The fitted C at ``electrons`` per pixel [electrons/pixel]."""
        return fitted_floor(np.asarray(electrons, dtype=np.float64), self.detector_floor, self.readout)


@dataclass(frozen=True)
class DoseSeriesFit:
    """MTF fits of every frame of a dose series and the readout fit over them.

    Attributes
    ----------
    fits : list of MTFFit
        One fit per frame.
    electrons : numpy.ndarray
        Electrons per pixel N_D of each frame [electrons/pixel].
    corner, size
        The vacuum window used for every frame ([pixels]).
    readout : ReadoutFit or None
        ``None`` when fewer than three distinct doses were fitted.
    sampling : float or None
        Pixel size [Å/pixel], when known.
    min_r2 : float
        R² from which a frame's fit counts as good [1].
    """

    fits: list[MTFFit]
    electrons: np.ndarray
    corner: tuple[int, int]
    size: int
    readout: ReadoutFit | None
    sampling: float | None = None
    min_r2: float = GOOD_FIT_R2

    @property
    def good(self) -> np.ndarray:
        """Boolean mask of the frames whose fit has R² ≥ ``min_r2``."""
        return np.array([f.r2 >= self.min_r2 for f in self.fits], dtype=bool)

    def rows(self) -> list[dict[str, Any]]:
        """One table row per frame (for :func:`temnn.io.tables.write_csv`)."""
        rows = []
        for i, (fit, n) in enumerate(zip(self.fits, self.electrons)):
            row: dict[str, Any] = {"frame": i, "electrons_per_pixel": float(n)}
            if self.sampling is not None:
                row["dose_e_per_angstrom2"] = float(n) / self.sampling**2
            row.update(mean_counts=fit.mean, c0=fit.c0, c1=fit.c1, c2=fit.c2, c3=fit.c3, floor=fit.floor,
                       c0_stderr=fit.stderr["c0"], c3_stderr=fit.stderr["c3"],
                       floor_stderr=fit.stderr["floor"], r2=fit.r2, good=bool(fit.r2 >= self.min_r2))
            rows.append(row)
        return rows

    def suggested_parameters(self) -> dict[str, Any]:
        """Parameters-file entries for simulations that match this detector.

        ``mtf_c0`` and ``mtf_c3`` span the 10th-90th percentiles of the good fits
        (R² ≥ ``min_r2``; all fits when none is good) at doses where shot noise dominates
        (N_D ≥ 10·N0 when N0 is known); ``mtf_floor`` is C_det ± 2 standard errors
        (clipped to [0, 1]) when N0 was fitted, else the range of the fitted C;
        ``readout`` is N0 ± 50 % as in publication II, or ``None``. Publication II
        found that networks segment low-dose images better when c0 also reaches up to
        about half Nyquist (its MTF 4: 0.25-0.6); widen ``mtf_c0`` for that.

        Returns
        -------
        dict
            ``{"mtf": "parametric", "mtf_c0": [lo, hi], "mtf_c3": [lo, hi],
            "mtf_floor": [lo, hi], "readout": [lo, hi] or None}``.
        """
        good = self.good
        use = good if good.any() else np.ones(len(self.fits), dtype=bool)
        if self.readout is not None:
            shot = use & (self.electrons >= 10 * self.readout.readout)
            use = shot if shot.any() else use
        chosen = [f for f, u in zip(self.fits, use) if u]

        def spread(values: Sequence[float], low: float = 0.0, high: float = math.inf) -> list[float]:
            lo, hi = np.percentile(values, [10, 90])
            return [round(float(np.clip(lo, low, high)), 4), round(float(np.clip(hi, low, high)), 4)]

        if self.readout is not None:
            c, dc = self.readout.detector_floor, self.readout.stderr["detector_floor"]
            floor = [round(float(np.clip(c - 2 * dc, 0, 1)), 4), round(float(np.clip(c + 2 * dc, 0, 1)), 4)]
            n0 = self.readout.readout
            readout: list[float] | None = [round(0.5 * n0, 5), round(1.5 * n0, 5)]
        else:
            floor = spread([f.floor for f in chosen], 0.0, 1.0)
            readout = None
        return {
            "mtf": "parametric",
            "mtf_c0": spread([f.c0 for f in chosen], 1e-4),
            "mtf_c3": spread([f.c3 for f in chosen], 1e-4),
            "mtf_floor": floor,
            "readout": readout,
        }


def replace_outliers(window: np.ndarray, *, threshold: float = 10.0) -> np.ndarray:
    """Replace hot and dead pixels by the median of their 3 × 3 neighbourhood.

    Parameters
    ----------
    window : numpy.ndarray, shape (ni, nj)
        Vacuum window [counts or any intensity unit].
    threshold : float
        A pixel is an outlier when it lies further than ``threshold`` half-widths
        of the central 99.8 % of the values from the median [1] (see the module notes).

    Returns
    -------
    numpy.ndarray
        float64 copy with the outliers replaced.

    Examples
    --------
    >>> w = np.random.default_rng(0).poisson(20.0, (32, 32)).astype(float)
    >>> w[5, 7] = 20000.0
    >>> bool(replace_outliers(w)[5, 7] < 40)
    True
    """
    window = np.array(window, dtype=np.float64)
    low, median, high = np.percentile(window, [0.1, 50, 99.9])
    spread = (high - low) / 2
    if spread == 0:
        return window
    outliers = np.abs(window - median) > threshold * spread
    if outliers.any():
        window[outliers] = ndi.median_filter(window, size=3, mode="reflect")[outliers]
    return window


def radial_power_spectrum(
    window: np.ndarray,
    sampling: float | None = None,
    *,
    taper: str | None = "tukey",
    outlier_threshold: float | None = 10.0,
) -> PowerSpectrum:
    """Azimuthally averaged power spectrum of one vacuum window or a stack of windows.

    Parameters
    ----------
    window : numpy.ndarray, shape (ni, nj) or (K, ni, nj)
        Vacuum window(s) [counts or any intensity unit]; the periodograms of a stack
        are averaged.
    sampling : float, optional
        Pixel size [Å/pixel] (only carried along, for frequencies in 1/Å).
    taper : {"tukey", "hann", None}
        Window function applied before the FFT (see the module notes).
    outlier_threshold : float or None
        Distance from the median, in half-widths of the central 99.8 % of the
        values, beyond which a pixel is replaced (:func:`replace_outliers`);
        ``None`` keeps every pixel.

    Returns
    -------
    PowerSpectrum

    Raises
    ------
    TemnnError
        The window is too small, not finite, or has no variation (e.g. all zero).
    """
    stack = _windows(window)
    if taper not in TAPERS:
        raise TemnnError(f"taper: expected one of {TAPERS}, got {taper!r}")
    _, ni, nj = stack.shape
    weights = np.outer(_taper(ni, taper), _taper(nj, taper))
    # Shells one frequency pixel of the shorter side wide: index = round(q̃ · min(n) / 2).
    fi = np.fft.fftfreq(ni)[:, None]
    fj = np.fft.fftfreq(nj)[None, :]
    q_norm = 2 * np.sqrt(fi**2 + fj**2)
    shell = np.rint(q_norm * min(ni, nj) / 2).astype(np.int64)
    inside = (shell >= 1) & (q_norm <= 1 + 1e-12)
    power = np.zeros((ni, nj))
    for w in stack:
        if outlier_threshold is not None:
            w = replace_outliers(w, threshold=outlier_threshold)
        w = _remove_background(w)
        mean = np.sum(w * weights) / np.sum(weights)
        power += np.abs(sp_fft.fft2((w - mean) * weights)) ** 2
    power /= len(stack) * np.sum(weights**2)
    n_shells = int(shell[inside].max())
    counts = np.bincount(shell[inside], minlength=n_shells + 1)[1:]
    sums = np.bincount(shell[inside], power[inside], minlength=n_shells + 1)[1:]
    q_sums = np.bincount(shell[inside], q_norm[inside], minlength=n_shells + 1)[1:]
    keep = counts > 0
    return PowerSpectrum(
        q=q_sums[keep] / counts[keep],
        power=sums[keep] / counts[keep],
        counts=counts[keep] * len(stack),
        sampling=None if sampling is None else _sampling(sampling),
    )


def fit_mtf(
    window: np.ndarray,
    sampling: float | None = None,
    *,
    taper: str | None = "tukey",
    outlier_threshold: float | None = 10.0,
) -> MTFFit:
    """Fit publication II eq. A.1 to the power spectrum of a vacuum window.

    Parameters
    ----------
    window : numpy.ndarray, shape (ni, nj) or (K, ni, nj)
        Vacuum window(s) of one frame (or of frames at one dose) [counts].
    sampling : float, optional
        Pixel size [Å/pixel]; the fit itself uses q̃ = q/q_N and does not need it.
    taper, outlier_threshold
        As in :func:`radial_power_spectrum`.

    Returns
    -------
    MTFFit
        c0, c1, c2, c3, the normalised floor C = c2/c1, R² and standard errors.

    Raises
    ------
    TemnnError
        As :func:`radial_power_spectrum`, or when the fit does not converge.

    Examples
    --------
    >>> import torch
    >>> from temnn.simulate.detector import detect
    >>> vacuum = torch.ones(1, 1, 256, 256, dtype=torch.float64)
    >>> image = detect(vacuum, [0.1], dose=[2000.0], mtf=[(0.3, 3.0, 0.1)],
    ...                generator=torch.Generator().manual_seed(0))[0, 0].numpy()
    >>> fit = fit_mtf(image)
    >>> round(fit.c0, 1), round(fit.floor, 1), fit.r2 > 0.9
    (0.3, 0.1, True)
    """
    spectrum = radial_power_spectrum(window, sampling, taper=taper, outlier_threshold=outlier_threshold)
    if len(spectrum.q) < SKIPPED_SHELLS + 8:
        raise TemnnError(f"window: its spectrum has only {len(spectrum.q)} shells; use a window of ≥ {MIN_WINDOW} pixels")
    # The quadratic background and the taper's weighted mean take most of the power of the
    # lowest shells (visible as a dip at q → 0), so the fit starts at shell SKIPPED_SHELLS + 1.
    q, power = spectrum.q[SKIPPED_SHELLS:], spectrum.power[SKIPPED_SHELLS:]
    params, cov = _fit_spectrum(q, power, spectrum.counts[SKIPPED_SHELLS:])
    c0, c1, floor, c3 = params
    model = c1 * parametric_mtf(q, c0, c3, floor)
    total = np.sum((power - power.mean()) ** 2)
    r2 = 1.0 - float(np.sum((power - model) ** 2) / total) if total > 0 else float("nan")
    errors = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(4, np.nan)
    return MTFFit(
        c0=float(c0),
        c1=float(c1),
        c2=float(c1 * floor),
        c3=float(c3),
        floor=float(floor),
        r2=r2,
        stderr={"c0": float(errors[0]), "c3": float(errors[3]), "floor": float(errors[2])},
        spectrum=spectrum,
        mean=float(np.mean(_windows(window))),
    )


def find_vacuum(image: np.ndarray, size: int, *, smoothing: float = 2.0, step: int | None = None) -> tuple[int, int]:
    """Corner of the flattest ``size`` × ``size`` window of an image (a vacuum region).

    The image is smoothed by a Gaussian of ``smoothing`` pixels, which suppresses
    shot noise but keeps lattice fringes and thickness contrast, and the window
    with the lowest variance of the smoothed image is returned.

    Parameters
    ----------
    image : numpy.ndarray, shape (ni, nj)
        Frame (or the mean of a series) [any intensity unit].
    size : int
        Window side [pixels].
    smoothing : float
        Standard deviation of the Gaussian smoothing [pixels]: it suppresses the shot
        noise, which is independent from pixel to pixel, so it is a width on the pixel
        grid like ``size`` and ``step``, not a length in the specimen.
    step : int, optional
        Spacing of the candidate corners [pixels]; ``size // 8`` by default.

    Returns
    -------
    (i0, j0) : tuple of int
        Corner of the window [pixels].

    Examples
    --------
    >>> y = np.arange(128)
    >>> image = np.ones((128, 128)) + 0.5 * np.cos(y / 2)[None, :] * (y[None, :] < 64)
    >>> find_vacuum(image, 32)[1] >= 64
    True
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise TemnnError(f"image: expected one (ni, nj) frame, got shape {image.shape}")
    size = int(size)
    if size < MIN_WINDOW or size > min(image.shape):
        raise TemnnError(
            f"window size: expected {MIN_WINDOW} to {min(image.shape)} pixels for an image of {image.shape}, got {size}"
        )
    smooth = ndi.gaussian_filter(image, smoothing)
    step = max(1, size // 8 if step is None else int(step))
    # Window means of the smoothed image and of its square (summed-area tables), variance = E[x²] - E[x]².
    tables = [np.pad(np.cumsum(np.cumsum(a, 0), 1), ((1, 0), (1, 0))) for a in (smooth, smooth**2)]
    i0 = np.arange(0, image.shape[0] - size + 1, step)
    j0 = np.arange(0, image.shape[1] - size + 1, step)
    sums = [t[i0[:, None] + size, j0[None, :] + size] - t[i0[:, None], j0[None, :] + size]
            - t[i0[:, None] + size, j0[None, :]] + t[i0[:, None], j0[None, :]] for t in tables]
    variance = sums[1] / size**2 - (sums[0] / size**2) ** 2
    best = np.unravel_index(int(np.argmin(variance)), variance.shape)
    return int(i0[best[0]]), int(j0[best[1]])


def vacuum_window(image: np.ndarray, corner: Sequence[int], size: int) -> np.ndarray:
    """The window ``image[i0:i0+size, j0:j0+size]`` (``image`` may be a (K, ni, nj) stack).

    Parameters
    ----------
    image : numpy.ndarray
        Frame (ni, nj) or stack (K, ni, nj).
    corner : (int, int)
        Corner (i0, j0) [pixels].
    size : int
        Window side [pixels].

    Raises
    ------
    TemnnError
        The window does not lie inside the image.
    """
    image = np.asarray(image)
    i0, j0 = (int(c) for c in corner)
    ni, nj = image.shape[-2:]
    if size < MIN_WINDOW or i0 < 0 or j0 < 0 or i0 + size > ni or j0 + size > nj:
        raise TemnnError(
            f"window: corner ({i0}, {j0}) and size {size} must lie inside the {ni} × {nj} image with size ≥ "
            f"{MIN_WINDOW} pixels (give --window X Y SIZE in pixels, or leave it out to find a vacuum region)"
        )
    return image[..., i0 : i0 + size, j0 : j0 + size]


def fit_readout(electrons: Sequence[float], floors: Sequence[float], stderr: Sequence[float] | None = None) -> ReadoutFit:
    """Fit C(N_D) = (N_D·C_det + N0)/(N_D + N0) to the MTF floors of a dose series.

    Parameters
    ----------
    electrons : sequence of float
        Electrons per pixel N_D of each frame [electrons/pixel].
    floors : sequence of float
        Fitted normalised floor C of each frame [1].
    stderr : sequence of float, optional
        Standard errors of the floors (weights); equal weights when omitted.

    Returns
    -------
    ReadoutFit

    Examples
    --------
    >>> n = np.logspace(-2, 2, 9)
    >>> fit = fit_readout(n, (n * 0.05 + 0.3) / (n + 0.3))
    >>> round(fit.detector_floor, 3), round(fit.readout, 3)
    (0.05, 0.3)
    """
    n = np.asarray(electrons, dtype=np.float64)
    c = np.asarray(floors, dtype=np.float64)
    if n.shape != c.shape or n.ndim != 1 or len(n) < 3:
        raise TemnnError(f"readout fit: needs ≥ 3 frames with one electrons-per-pixel value each, got {n.shape} and {c.shape}")
    if not (np.all(np.isfinite(n)) and np.all(n > 0)):
        raise TemnnError("readout fit: electrons per pixel must be positive; check --conversion (counts per electron)")
    sigma = None
    if stderr is not None:
        sigma = np.asarray(stderr, dtype=np.float64)
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nanmax(np.r_[sigma[np.isfinite(sigma)], 1e-3]))
        sigma = np.maximum(sigma, 1e-3)  # a floor on the weights: the model is not exact to 1e-3
    high = c[np.argmax(n)]
    # Initial N0: the dose at which C is halfway between its high-dose value and 1.
    half = n[np.argmin(np.abs(c - (1 + high) / 2))]
    try:
        params, cov = curve_fit(
            lambda x, floor, n0: fitted_floor(x, floor, n0),
            n, c, p0=(float(np.clip(high, 0, 1)), float(half)), sigma=sigma,
            bounds=([0.0, 0.0], [1.0, np.inf]), maxfev=20000,
        )
    except (RuntimeError, ValueError) as err:
        raise TemnnError(f"readout fit did not converge ({err}); check that the frames span a range of doses") from None
    model = fitted_floor(n, *params)
    total = np.sum((c - c.mean()) ** 2)
    errors = np.sqrt(np.clip(np.diag(cov), 0, None))
    return ReadoutFit(
        detector_floor=float(params[0]),
        readout=float(params[1]),
        stderr={"detector_floor": float(errors[0]), "readout": float(errors[1])},
        r2=1.0 - float(np.sum((c - model) ** 2) / total) if total > 0 else float("nan"),
    )


def fit_dose_series(
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    corner: Sequence[int] | None = None,
    size: int | None = None,
    electrons: Sequence[float] | None = None,
    conversion: float = 1.0,
    sampling: float | None = None,
    taper: str | None = "tukey",
    outlier_threshold: float | None = 10.0,
    min_r2: float = GOOD_FIT_R2,
) -> DoseSeriesFit:
    """MTF fit of every frame of a dose series and the readout N0 over the series.

    Parameters
    ----------
    frames : sequence of numpy.ndarray or numpy.ndarray, shape (K, ni, nj)
        Frames of one region at different doses [counts].
    corner : (int, int), optional
        Corner (i0, j0) of the vacuum window [pixels]; found on the mean frame
        with :func:`find_vacuum` when omitted.
    size : int, optional
        Window side [pixels]; by default the largest of 512, 256, 128, … that fits
        in half the shorter image side (at least 16), or the whole shorter side
        when ``corner`` is given without a size.
    electrons : sequence of float, optional
        Electrons per pixel N_D of each frame [electrons/pixel]. By default the
        window's mean counts / ``conversion``; with a detector that does not
        subtract a dark reference (like temnn's model) that includes the readout
        mean N0, which matters only at doses near N0.
    conversion : float
        Detector counts per electron [counts/electron].
    sampling : float, optional
        Pixel size [Å/pixel] (adds the dose in e⁻/Å² to the table).
    taper, outlier_threshold
        As in :func:`radial_power_spectrum`.
    min_r2 : float
        R² from which a frame's fit counts as good for the suggested c0 and c3
        ranges [1] (publication II: 0.98 on its large vacuum regions; R² falls with
        the window size and where readout flattens the spectrum, see the notes).

    Returns
    -------
    DoseSeriesFit
        Per-frame fits, N_D, the window, and the readout fit (``None`` for fewer
        than three distinct doses).

    Notes
    -----
    R² compares the scatter of the shell averages with the contrast of the MTF
    core, so it is lower for small windows and for frames where readout noise
    flattens the spectrum (C → 1), even when the parameters are well determined:
    a 512² window of simulated shot noise with C = 0.15 gives R² ≈ 0.93.
    """
    stack = [np.asarray(f, dtype=np.float64) for f in frames]
    if not stack or any(f.ndim != 2 or f.shape != stack[0].shape for f in stack):
        raise TemnnError(
            f"frames: expected one or more (ni, nj) frames of one shape, got shapes {[f.shape for f in stack][:5]}"
        )
    if not (math.isfinite(conversion) and conversion > 0):
        raise TemnnError(f"conversion: expected a positive number of counts per electron, got {conversion!r}")
    shape = stack[0].shape
    if size is None:
        size = min(shape) if corner is not None else _default_size(shape)
    if corner is None:
        corner = find_vacuum(np.mean(stack, axis=0), size)
    corner = (int(corner[0]), int(corner[1]))
    fits = [fit_mtf(vacuum_window(f, corner, size), sampling, taper=taper, outlier_threshold=outlier_threshold)
            for f in stack]
    if electrons is None:
        n = np.array([fit.mean for fit in fits]) / conversion
    else:
        n = np.asarray(electrons, dtype=np.float64).reshape(-1)
        if len(n) != len(stack):
            raise TemnnError(f"electrons: expected one value per frame ({len(stack)}), got {len(n)}")
    # Every frame enters the N0 fit, weighted by the standard error of its floor: R² measures
    # the contrast of the MTF core against the shell scatter, which vanishes where readout
    # dominates, exactly where C carries most information on N0.
    usable = np.array([math.isfinite(fit.stderr["floor"]) for fit in fits]) & (n > 0)
    readout = None
    if len(np.unique(n[usable])) >= 3:
        readout = fit_readout(n[usable], [f.floor for f, u in zip(fits, usable) if u],
                              [f.stderr["floor"] for f, u in zip(fits, usable) if u])
    return DoseSeriesFit(fits=fits, electrons=n, corner=corner, size=int(size), readout=readout,
                         sampling=None if sampling is None else _sampling(sampling), min_r2=min_r2)


def plot_mtf_fit(fit: MTFFit, *, title: str | None = None, path: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """Raw spectrum with the eq. A.1 fit (top) and the normalised MTF (bottom), as publication II fig. A.12.

    Parameters
    ----------
    fit : MTFFit
        The fit to draw.
    title : str, optional
        Figure title.
    path : path, optional
        Save the figure there (atomically).

    Returns
    -------
    (figure, axes)
    """
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    q = fit.spectrum.q
    fine = np.linspace(0, 1, 400)
    fig, axes = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True)
    axes[0].plot(q, fit.spectrum.power, ".", ms=3, color="0.5", label="power spectrum")
    axes[0].plot(fine, fit.raw(fine), "C1", label=f"fit, R² = {fit.r2:.3f}")
    axes[0].set_ylabel("power [counts²/pixel]")
    axes[0].set_title(f"c0 = {fit.c0:.3g}, c1 = {fit.c1:.4g}, c2 = {fit.c2:.4g}, c3 = {fit.c3:.3g}", fontsize=9)
    axes[0].legend()
    axes[1].plot(q, fit.spectrum.power / fit.c1, ".", ms=3, color="0.5")
    axes[1].plot(fine, fit.mtf(fine), "C1", label=f"MTF: c0 = {fit.c0:.3g}, c3 = {fit.c3:.3g}, C = {fit.floor:.3g}")
    axes[1].axhline(fit.floor, color="k", ls="--", lw=0.8)
    axes[1].set_xlabel("q / q_N")
    axes[1].set_ylabel("normalised MTF")
    axes[1].set_xlim(0, 1)
    axes[1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes


def plot_dose_series(series: DoseSeriesFit, *, path: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """c0, c3 and C of every frame against electrons per pixel, with the N0 fit (publication II figs. 4, 5).

    Parameters
    ----------
    series : DoseSeriesFit
        The fits to draw; good fits (R² ≥ ``series.min_r2``) are filled, the others open.
    path : path, optional
        Save the figure there (atomically).

    Returns
    -------
    (figure, axes)
    """
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    n = series.electrons
    good = series.good
    fig, axes = plt.subplots(3, 1, figsize=(5.5, 8), sharex=True)
    for ax, name, label in zip(axes, ("c0", "c3", "floor"), ("c0 [q_N]", "c3", "C")):
        values = np.array([getattr(f, name) for f in series.fits])
        ax.plot(n[good], values[good], "o", color="C0", ms=4, label=f"R² ≥ {series.min_r2:g}")
        ax.plot(n[~good], values[~good], "o", mfc="none", color="C0", ms=4, label=f"R² < {series.min_r2:g}")
        ax.set_ylabel(label)
    if series.readout is not None:
        fine = np.logspace(np.log10(n[n > 0].min()), np.log10(n.max()), 200)
        r = series.readout
        axes[2].plot(fine, r.floor(fine), "C1",
                     label=f"N0 = {r.readout:.3g} e⁻/pixel, C_det = {r.detector_floor:.3g}, R² = {r.r2:.2f}")
    axes[2].legend(fontsize=8)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("electrons per pixel")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes


# --------------------------------------------------------------------- helpers
def _windows(window: np.ndarray) -> np.ndarray:
    stack = np.asarray(window, dtype=np.float64)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or min(stack.shape[1:]) < MIN_WINDOW:
        raise TemnnError(
            f"window: expected an (ni, nj) vacuum region (or a (K, ni, nj) stack) of at least "
            f"{MIN_WINDOW} × {MIN_WINDOW} pixels, got shape {stack.shape}"
        )
    if not np.all(np.isfinite(stack)):
        raise TemnnError("window: contains NaN or infinite values; choose a region of valid pixels")
    if np.all(stack == 0):
        raise TemnnError(
            "window: all pixels are zero, there is no noise to fit; check the file and choose a vacuum region "
            "of the recorded frame (--window X Y SIZE)"
        )
    if np.all(np.ptp(stack, axis=(1, 2)) == 0):
        raise TemnnError("window: all pixels have one value, there is no noise to fit; choose a vacuum region of a recorded frame")
    return stack


def _taper(n: int, taper: str | None) -> np.ndarray:
    from scipy.signal import windows

    if taper is None:
        return np.ones(n)
    if taper == "hann":
        return windows.hann(n, sym=False)
    return windows.tukey(n, alpha=0.25, sym=False)


def _remove_background(window: np.ndarray) -> np.ndarray:
    """Subtract the least-squares quadratic surface (illumination gradient and curvature)."""
    ni, nj = window.shape
    i = np.linspace(-1, 1, ni)[:, None]
    j = np.linspace(-1, 1, nj)[None, :]
    # On a symmetric grid 1, i, j, i² - <i²>, i·j, j² - <j²> are orthogonal, so the
    # least-squares surface is the sum of the six projections (no lstsq on ni·nj rows).
    basis = (np.ones((1, 1)), i, j, i**2 - np.mean(i**2), i * j, j**2 - np.mean(j**2))
    surface = np.zeros_like(window)
    for b in basis:
        b = np.broadcast_to(b, window.shape)
        surface += b * (np.sum(window * b) / np.sum(b * b))
    return window - surface


def _fit_spectrum(q: np.ndarray, power: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of c1·MTF(q; c0, c3, C); returns (c0, c1, C, c3) and their covariance.

    ``scipy.optimize.least_squares`` rather than ``curve_fit``: a flat spectrum (readout
    noise only) leaves c0 and c3 undetermined, and the solver's best point after
    ``max_nfev`` evaluations, with its large standard errors, is still a valid result.
    """
    scale = float(np.mean(power[: max(3, len(q) // 20)]))
    if not scale > 0:
        raise TemnnError("window: the power spectrum is zero at low frequencies; is the window a vacuum region?")
    y = power / scale  # all parameters of order 1 for the solver

    def model(params: np.ndarray) -> np.ndarray:
        c0, c1, floor, c3 = params
        return c1 * ((1 - floor) / (1 + (q / c0) ** c3) + floor)

    k = max(3, len(q) // 20)
    c2 = float(np.mean(y[-k:]))
    half = (y - c2) < 0.5 * (1 - c2)
    c0 = float(q[np.argmax(half)]) if half.any() and c2 < 1 else 0.3
    params = np.array([np.clip(c0, 0.02, 1.0), 1.0, float(np.clip(c2, 0.01, 0.99)), 2.5])
    bounds = ([1e-3, 0.0, 0.0, 0.3], [2.0, np.inf, 1.0, 20.0])
    relative = 1.0 / np.sqrt(np.maximum(counts, 1) / 2)
    for _ in range(2):  # weights from the current curve, then from the first fit
        sigma = np.maximum(model(params), 1e-12) * relative
        result = least_squares(lambda p: (model(p) - y) / sigma, params, bounds=bounds, max_nfev=100)
        params = result.x
    dof = max(len(q) - 4, 1)
    try:
        cov = np.linalg.inv(result.jac.T @ result.jac) * (2 * result.cost / dof)
    except np.linalg.LinAlgError:
        cov = np.full((4, 4), np.inf)
    params = params * np.array([1, scale, 1, 1])
    cov = cov * np.outer([1, scale, 1, 1], [1, scale, 1, 1])
    return params, cov


def _default_size(shape: tuple[int, ...]) -> int:
    size = 512
    while size > MIN_WINDOW and size > min(shape) // 2:
        size //= 2
    if size > min(shape):
        raise TemnnError(f"frames of {shape} pixels are too small for a {MIN_WINDOW}-pixel vacuum window")
    return size


def _sampling(sampling: float) -> float:
    from ..checks import positive_sampling

    return positive_sampling(sampling)
