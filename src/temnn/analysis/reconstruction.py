"""Classical exit-wave reconstruction from a focal series (Gerchberg-Saxton), the baseline for networks.

Thesis section 1.4 and publication I section 6: given a focal series with known
defocus values and aberrations, the iterative algorithm of Gerchberg and Saxton
finds an exit wave ψ whose image waves ψ_k = F⁻¹[F[ψ]·T_k] (T_k the coherent
wave transfer function of image k, :class:`temnn.simulate.optics.CTF`) have the
measured amplitudes √I_k. Each iteration

1. propagates the current estimate to every image plane, ψ_k = F⁻¹[F[ψ]·T_k];
2. keeps the phase and replaces the amplitude, ψ_k ← √I_k · ψ_k/|ψ_k|;
3. propagates back and combines the estimates in Fourier space,
   F[ψ] ← Σ_k T_k* F[ψ_k] / Σ_k |T_k|²,

which for pure phase transfer functions (|T_k| = 1) is the plain mean of the
back-propagated estimates, and with envelopes or an aperture is their
least-squares combination. Frequencies beyond the information limit, where
Σ_k |T_k|² < K·e⁻⁴ (every envelope below e⁻²), are set to 0: dividing by their
vanishing weight would amplify noise and round-off without bound. The start is
√(mean image) with zero phase.

What a focal series cannot determine: the lowest spatial frequencies. At small q
every image's phase error χ_k ≈ -πλΔf_k q² is near 0, so the phase of ψ there
hardly changes any image and stays at the starting guess; the global phase (q = 0)
not at all. Publication I therefore compares the Gerchberg-Saxton result with a
ground truth whose longest wavelengths are removed by a Gaussian of 8 pixels
(0.9 Å) — :func:`remove_low_frequencies` — and reports RMSE 0.061 for
Gerchberg-Saxton (MacTempas) against 0.013 for the network on a MoS₂@graphene
series. :func:`compare_to_truth` does the same after aligning the global phase.

Waves and images index ``[ix, iy]`` and are periodic, as the rest of temnn.

References
----------
Gerchberg, R. W. and Saxton, W. O. (1972). A practical algorithm for the determination of phase from
image and diffraction plane pictures. *Optik* 35, 237.
Allen, L. J., McBride, W., O'Leary, N. L. and Oxley, M. P. (2004). *Ultramicroscopy* 100, 91-104.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import fft as sp_fft

from ..errors import TemnnError
from ..simulate.optics import CTF
from ._arrays import complex_wave
from ..checks import positive_sampling

__all__ = [
    "Reconstruction",
    "WaveComparison",
    "focal_series_ctfs",
    "reconstruct_exit_wave",
    "remove_low_frequencies",
    "align_global_phase",
    "compare_to_truth",
    "plot_reconstruction",
]


@dataclass(frozen=True)
class Reconstruction:
    """A reconstructed exit wave and how well it explains the images.

    Attributes
    ----------
    wave : numpy.ndarray
        complex128 (nx, ny) exit wave [vacuum = 1].
    sampling : float
        Pixel size [Å/pixel].
    history : numpy.ndarray
        RMS amplitude mismatch sqrt(mean (|ψ_k| - √I_k)²) over all images after
        0, 1, …, ``iterations`` iterations [vacuum amplitude = 1].
    """

    wave: np.ndarray
    sampling: float
    history: np.ndarray


@dataclass(frozen=True)
class WaveComparison:
    """A reconstruction against the ground truth, both with the low frequencies removed.

    Attributes
    ----------
    rmse : float
        Complex RMSE sqrt(mean |ψ - ψ_true|²) after the global phase is aligned [vacuum = 1].
    phase_rmse : float
        RMS of the phase difference [rad].
    prediction, truth : numpy.ndarray
        The filtered, phase-aligned waves that were compared.
    """

    rmse: float
    phase_rmse: float
    prediction: np.ndarray
    truth: np.ndarray


def focal_series_ctfs(defocus: Sequence[float], energy: float, **parameters: float | None) -> list[CTF]:
    """One CTF per image of a focal series that shares all but the defocus.

    Parameters
    ----------
    defocus : sequence of float
        Defocus Δf = -C10 of each image [Å].
    energy : float
        Beam energy [eV].
    **parameters
        Other fields of :class:`temnn.simulate.optics.CTF`: ``C30`` (Cs) [Å],
        ``C12``/``phi12`` [Å, rad], ``focal_spread`` [Å], ``aperture`` [mrad], …

    Returns
    -------
    list of CTF

    Examples
    --------
    >>> [round(c.defocus) for c in focal_series_ctfs([-50, 0, 50], 80e3, C30=2e4)]
    [-50, 0, 50]
    """
    known = set(CTF.__dataclass_fields__) - {"energy", "defocus"}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise TemnnError(f"focal series: unknown CTF parameter(s) {unknown}; expected some of {sorted(known)}")
    if len(defocus) == 0:
        raise TemnnError("focal series: give at least one defocus value in Å")
    return [CTF(energy=energy, defocus=float(d), **parameters) for d in defocus]


def reconstruct_exit_wave(
    images: np.ndarray,
    ctfs: Sequence[CTF],
    sampling: float,
    *,
    iterations: int = 100,
    initial: np.ndarray | None = None,
) -> Reconstruction:
    """Gerchberg-Saxton exit-wave reconstruction from a focal series (see the module notes).

    Parameters
    ----------
    images : numpy.ndarray, shape (K, nx, ny)
        Focal series, vacuum intensity 1 (negative values count as 0).
    ctfs : sequence of CTF, length K
        Transfer function of each image (e.g. :func:`focal_series_ctfs`).
    sampling : float
        Pixel size of the images [Å/pixel].
    iterations : int
        Number of iterations.
    initial : numpy.ndarray, optional
        Complex (nx, ny) starting wave; default √(mean image) with zero phase.

    Returns
    -------
    Reconstruction
        The exit wave and the mismatch history.

    Examples
    --------
    >>> x = np.arange(64) * 0.2
    >>> truth = np.exp(0.3j * np.cos(2 * np.pi * x / 3.2))[:, None] * np.ones((1, 64))
    >>> ctfs = focal_series_ctfs(np.linspace(-200, 200, 5), 80e3)
    >>> images = np.stack([np.abs(np.fft.ifft2(np.fft.fft2(truth) * c.evaluate((64, 64), 0.2))) ** 2 for c in ctfs])
    >>> result = reconstruct_exit_wave(images, ctfs, 0.2, iterations=30)
    >>> bool(result.history[-1] < 0.01 * result.history[0])
    True
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise TemnnError(f"images: expected a (K, nx, ny) focal series, got shape {images.shape}")
    if len(ctfs) != len(images):
        raise TemnnError(f"focal series: {len(images)} images but {len(ctfs)} defocus values / CTFs; give one per image")
    if not np.all(np.isfinite(images)):
        raise TemnnError("images: contain NaN or infinite values")
    if not (isinstance(iterations, (int, np.integer)) and iterations >= 0):
        raise TemnnError(f"iterations: expected a non-negative integer, got {iterations!r}")
    sampling = positive_sampling(sampling)
    shape = images.shape[1:]
    # Single precision inside the loop: twice as fast, and 1e-7 relative error is far
    # below any mismatch a focal series is reconstructed to.
    transfer = np.stack([c.evaluate(shape, sampling) for c in ctfs]).astype(np.complex64)  # (K, nx, ny)
    weight = np.sum(np.abs(transfer) ** 2, axis=0)
    inverse = np.divide(1.0, weight, out=np.zeros_like(weight), where=weight > len(ctfs) * math.exp(-4))
    conjugate = np.conj(transfer) * inverse
    amplitude = np.sqrt(np.clip(images, 0, None)).astype(np.float32)
    if initial is None:
        wave = np.sqrt(np.clip(images.mean(axis=0), 0, None)).astype(np.complex64)
    else:
        wave = complex_wave(initial, name="initial").astype(np.complex64)
        if wave.shape != shape:
            raise TemnnError(f"initial: expected a wave of the images' shape {shape}, got {wave.shape}")
    spectrum = sp_fft.fft2(wave)
    history = []
    for iteration in range(int(iterations) + 1):
        image_waves = sp_fft.ifft2(spectrum[None] * transfer, axes=(-2, -1))
        modulus = np.abs(image_waves)
        history.append(float(np.sqrt(np.mean((modulus - amplitude).astype(np.float64) ** 2))))
        if iteration == iterations:
            break
        # Keep the phase, impose the measured amplitude (phase 0 where the wave vanishes).
        factor = np.divide(amplitude, modulus, out=np.ones_like(modulus), where=modulus > 1e-12)
        corrected = sp_fft.fft2(image_waves * factor, axes=(-2, -1))
        spectrum = np.sum(conjugate * corrected, axis=0)
    return Reconstruction(wave=sp_fft.ifft2(spectrum).astype(np.complex128), sampling=sampling,
                          history=np.array(history))


def remove_low_frequencies(wave: np.ndarray, sampling: float, cutoff: float) -> np.ndarray:
    """Remove the long wavelengths that a focal series cannot determine (publication I, fig. 10 f).

    The wave minus its Gaussian-blurred copy, plus its mean: the Fourier transform
    is multiplied by 1 - exp(-2π²σ²q²) with σ = ``cutoff``, except at q = 0.

    Parameters
    ----------
    wave : numpy.ndarray
        Complex (nx, ny) wave, or real (2, nx, ny) (real, imaginary) parts [vacuum = 1].
    sampling : float
        Pixel size [Å/pixel].
    cutoff : float
        Standard deviation σ of the Gaussian whose low-pass part is removed [Å]
        (publication I: 8 pixels ≈ 0.9 Å).

    Returns
    -------
    numpy.ndarray
        complex128 (nx, ny) wave.

    Examples
    --------
    >>> wave = np.exp(1j * np.linspace(0, 1, 32))[:, None] * np.ones((1, 32))
    >>> out = remove_low_frequencies(wave, 0.1, 0.9)
    >>> bool(np.isclose(out.mean(), wave.mean()) and np.std(out) < np.std(wave))
    True
    """
    import torch

    from ..simulate.optics import blur_envelope, polar_frequencies

    wave = complex_wave(wave)
    sampling = positive_sampling(sampling)
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise TemnnError(f"cutoff: expected the width of the removed Gaussian in Å (e.g. 0.9), got {cutoff!r}")
    q, _ = polar_frequencies(wave.shape, sampling, dtype=torch.float64)
    high_pass = 1.0 - blur_envelope(q, cutoff).numpy()
    high_pass[0, 0] = 1.0
    return sp_fft.ifft2(sp_fft.fft2(wave) * high_pass)


def align_global_phase(wave: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``wave`` times the constant phase factor that best matches ``reference`` (least squares).

    Parameters
    ----------
    wave, reference : numpy.ndarray
        Complex (nx, ny) waves or real (2, nx, ny) parts [vacuum = 1].

    Returns
    -------
    numpy.ndarray
        complex128 wave · exp(iφ) with φ = arg Σ conj(wave)·reference.
    """
    wave = complex_wave(wave)
    reference = complex_wave(reference, name="reference")
    if wave.shape != reference.shape:
        raise TemnnError(f"waves of different shapes {wave.shape} and {reference.shape}")
    overlap = np.vdot(wave, reference)
    return wave * (overlap / abs(overlap) if abs(overlap) > 0 else 1.0)


def compare_to_truth(wave: np.ndarray, truth: np.ndarray, sampling: float, *, cutoff: float = 0.9) -> WaveComparison:
    """RMSE of a reconstruction against the ground truth after removing the low frequencies of both.

    Parameters
    ----------
    wave, truth : numpy.ndarray
        Complex (nx, ny) waves or real (2, nx, ny) parts [vacuum = 1].
    sampling : float
        Pixel size [Å/pixel].
    cutoff : float
        Width of the removed Gaussian [Å] (:func:`remove_low_frequencies`).

    Returns
    -------
    WaveComparison
    """
    from .metrics import exit_wave_rmse

    true = remove_low_frequencies(truth, sampling, cutoff)
    prediction = align_global_phase(remove_low_frequencies(wave, sampling, cutoff), true)
    rmse = exit_wave_rmse(prediction, true).total
    phase = np.angle(prediction * np.conj(true))
    return WaveComparison(rmse=rmse, phase_rmse=float(np.sqrt(np.mean(phase**2))), prediction=prediction, truth=true)


def plot_reconstruction(
    reconstruction: Reconstruction,
    truth: np.ndarray | None = None,
    *,
    cutoff: float = 0.9,
    path: str | os.PathLike | None = None,
) -> tuple[Any, Any]:
    """Phase and amplitude of the reconstruction, the ground truth and their difference, and the history.

    With a truth both are shown after :func:`remove_low_frequencies` (``cutoff`` [Å])
    and global-phase alignment, as in publication I fig. 10 (e, f).

    Parameters
    ----------
    reconstruction : Reconstruction
        Result of :func:`reconstruct_exit_wave`.
    truth : numpy.ndarray, optional
        Complex (nx, ny) ground-truth exit wave.
    cutoff : float
        Width of the removed Gaussian [Å].
    path : path, optional
        Save the figure there (atomically).

    Returns
    -------
    (figure, axes)
    """
    import matplotlib.pyplot as plt

    from .plotting import save_figure, show_image

    s = reconstruction.sampling
    columns: list[tuple[str, np.ndarray]] = []
    if truth is None:
        columns.append(("reconstruction", reconstruction.wave))
    else:
        comparison = compare_to_truth(reconstruction.wave, truth, s, cutoff=cutoff)
        columns += [("reconstruction", comparison.prediction), ("ground truth", comparison.truth),
                    (f"difference (RMSE {comparison.rmse:.3f})", comparison.prediction - comparison.truth + 1)]
    fig, axes = plt.subplots(2, len(columns) + 1, figsize=(3.6 * (len(columns) + 1), 7), squeeze=False)
    # One phase scale for the reconstruction and the truth, its own for the difference.
    limits = [max(float(np.abs(np.angle(w)).max()) for _, w in columns[:2])] * 2
    limits = [limits[k] if k < 2 else float(np.abs(np.angle(w)).max()) for k, (_, w) in enumerate(columns)]
    for k, (title, w) in enumerate(columns):
        limit = limits[k] or 1.0
        show_image(axes[0, k], np.angle(w), sampling=s if k == 0 else None, title=f"{title}: phase",
                   cmap="RdBu_r", vmin=-limit, vmax=limit)
        show_image(axes[1, k], np.abs(w), title=f"{title}: amplitude", cmap="gray")
    axes[0, -1].semilogy(reconstruction.history)
    axes[0, -1].set_xlabel("iteration")
    axes[0, -1].set_ylabel("RMS amplitude mismatch")
    axes[1, -1].axis("off")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes
