"""Detector: electron dose, shot noise, modulation transfer function, readout noise.

Thesis section 1.3 (eqs. 1.24-1.28), in this order, for an image whose vacuum
intensity is 1:

1. **Dose.** A dose D [e⁻/Å²] puts N_D = D·s² electrons on a vacuum pixel of
   size s [Å]; a pixel of intensity I receives Poisson(N_D · I) electrons (shot
   noise, eq. 1.24). Intensities below 0 (ringing of the band-limited image) count as 0.
2. **MTF.** The parametric form of Lee et al. (eq. 1.25),
   MTF(q̃) = (1 - C) / (1 + (q̃/c0)^c3) + C with q̃ = q/q_N = 2·q·s,
   filters the counts in Fourier space: the signal by its core (C = 0), the
   shot noise by the whole form, floor C included (see "The floor C" below).
3. **Readout.** Poisson(N0) electrons per pixel are added after the MTF (eq. 1.27).
4. The counts are divided by N_D + N0, the mean count of a vacuum pixel, so
   vacuum has mean intensity 1. The readout mean N0 is *not* subtracted: like a
   counting detector the image stays non-negative, and the offset disappears
   anyway in the local standardisation applied before a network.

**MTF convention.** Publication II (its Appendix A.3, eq. A.1) measures the MTF
by fitting (c1 - c2)/(1 + (q̃/c0)^c3) + c2 to the azimuthally averaged *power*
spectrum of vacuum images, with C = c2/c1. Thesis eq. 1.26 instead multiplies
the image's Fourier transform by the MTF, which would make the power spectrum
follow MTF². So that fitting our simulated vacuum images recovers the
parameters we simulated with, amplitudes are multiplied by square roots: the
shot-noise power spectrum is N_D · MTF(q̃). With readout, the white readout
power N0 adds to it, so the fit gives c1 = N_D + N0, c2 = N_D·C + N0 and the
same c0, c3:

    C_fit = (N_D · C + N0) / (N_D + N0),

which tends to C at high dose and to 1 when readout dominates (low dose):
the C-versus-dose trend of publication II (its Fig. 4 and Fig. A.14).

**The floor C belongs to the noise, not to the signal.** The thesis reads C as
"a noise floor that will scale depending on the dominating noise source",
"controlled by the fractional contribution of the readout noise to the total
noise" (section 1.3, after eqs. 1.25 and 1.27), and publication II as "a
fraction of the noise that is not subject to the point spread function of the
scintillator, but is generated later in the detection process" (its section
on noise, eqs. 1-3, Figs. 4-5). Its simulated MTF models (Table 3, and Table 1
of publication III) draw only c0, c3 and N0 (listing A.1: ``mtf_c2 = (0, 0)``),
and reproduce the fitted C-versus-dose trend from readout alone (Fig. A.14).
Nothing in that model transfers part of the *signal* unblurred to all
frequencies, which is what a floor in the signal's transfer would mean (a
delta-function part of the scintillator's point spread function). So the
expected counts N_D·I are filtered by √core, core = 1/(1 + (q̃/c0)^c3), the
C = 0 form, and only the shot noise (the counts less their expectation) by
√MTF with its floor: a C > 0 adds white noise, proportional to the dose, that
carries no signal, and leaves the power spectrum that publication II fits
(and :mod:`temnn.analysis.noise` recovers) unchanged. With C = 0, as in the
publications, signal and noise share one filter √core. Before this
convention the signal passed at √C at high frequency, a contrast transfer no
measurement in the publications supports.

c0 = 0 is the limit of a vanishingly narrow core: the noise's MTF is 1 at
q = 0 and C elsewhere, and the signal keeps only its mean.

**Edges.** An image is a crop of a larger field, not one period of a periodic
one, so the MTF filter must not let the left edge act on the right edge as a
circular FFT would. :func:`detect` reflects each image about its edges (mirror
about the edge pixels, numpy's ``mode="reflect"``) by a margin of a quarter of
the image side (at least ``_MIN_MARGIN`` pixels, at most the side less one),
rounds the padded size up to a fast FFT size, filters, and crops the image back.
The scintillator's point spread function is a few pixels wide for publication
II's c0 ≥ 0.2, so what the margin misses is far below the shot noise; the
mirrored margin continues the image without a step, so no ringing enters from
the edges either.

Every function takes and returns PyTorch tensors and runs on CPU or GPU;
random numbers come from an explicit :class:`torch.Generator` on the same device.
"""

from __future__ import annotations

from typing import Callable, Sequence

import math

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from ..errors import TemnnError

__all__ = ["parametric_mtf", "fitted_floor", "detect"]


def parametric_mtf(
    q: torch.Tensor | np.ndarray,
    c0: float | torch.Tensor,
    c3: float | torch.Tensor,
    floor: float | torch.Tensor,
) -> torch.Tensor | np.ndarray:
    """Parametric MTF (1 - C)/(1 + (q̃/c0)^c3) + C (thesis eq. 1.25, Lee et al.).

    Parameters
    ----------
    q : torch.Tensor or numpy.ndarray
        Spatial frequency as a fraction of Nyquist, q̃ = 2·q·s [1]. NumPy in gives NumPy out.
    c0 : float or torch.Tensor
        Width of the MTF core [fraction of Nyquist]; 0 gives MTF = C for q̃ > 0.
    c3 : float or torch.Tensor
        Exponent of the fall-off [1].
    floor : float or torch.Tensor
        High-frequency limit C [1].

    Returns
    -------
    torch.Tensor or numpy.ndarray
        MTF(q̃), 1 at q̃ = 0.

    Examples
    --------
    >>> import numpy as np
    >>> parametric_mtf(np.array([0.0, 0.2, 1.0]), 0.2, 2.0, 0.5).round(4).tolist()
    [1.0, 0.75, 0.5192]
    """
    as_numpy = isinstance(q, np.ndarray)
    q_t = torch.as_tensor(q)
    if not q_t.is_floating_point():
        q_t = q_t.double()
    c0, c3, floor = (torch.as_tensor(v, dtype=q_t.dtype, device=q_t.device) for v in (c0, c3, floor))
    # For c0 = 0, q̃/c0 is +inf (q̃ > 0) or nan (q̃ = 0): the core is 0 or, by continuity in q̃ → 0, 1.
    core = torch.where(q_t == 0, torch.ones_like(q_t), 1 / (1 + (q_t / c0) ** c3))
    out = (1 - floor) * core + floor
    return out.numpy() if as_numpy else out


def fitted_floor(electrons: float, floor: float, readout: float) -> float:
    """Floor C that a power-spectrum fit finds on vacuum images with readout noise.

    C_fit = (N_D · C + N0) / (N_D + N0) (see the module notes).

    Parameters
    ----------
    electrons : float
        Electrons per vacuum pixel N_D = D·s² [electrons/pixel].
    floor : float
        Simulated MTF floor C [1].
    readout : float
        Readout noise N0 [electrons/pixel].

    Returns
    -------
    float
        The floor C_fit of the fitted, normalised MTF [1].
    """
    return (electrons * floor + readout) / (electrons + readout)


def detect(
    images: torch.Tensor,
    sampling: Sequence[float] | torch.Tensor,
    *,
    dose: Sequence[float] | torch.Tensor | None = None,
    mtf: Sequence[Sequence[float]] | torch.Tensor | None = None,
    readout: Sequence[float] | torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Record noise-free images on a detector: shot noise, MTF, readout noise.

    Parameters
    ----------
    images : torch.Tensor, shape (B, ..., nx, ny)
        Noise-free intensities, vacuum = 1 (float32 or float64).
    sampling : sequence of float or torch.Tensor, shape (B,)
        Pixel size of each image [Å/pixel].
    dose : sequence of float or torch.Tensor, shape (B,), optional
        Dose [e⁻/Å²]; ``None`` for noise-free images (then no readout either).
    mtf : sequence or torch.Tensor, shape (B, 3), optional
        (c0, c3, C) of each image's parametric MTF; ``None`` for none. The image is
        transferred by √(MTF with C = 0), the shot noise by √MTF (module notes).
    readout : sequence of float or torch.Tensor, shape (B,), optional
        Readout noise N0 [electrons/pixel]; ``None`` for none. Needs ``dose``.
    generator : torch.Generator, optional
        Source of the Poisson noise, on the device of ``images``.

    Returns
    -------
    torch.Tensor
        Detected images, same shape and dtype, vacuum mean 1.
    """
    if images.ndim < 3:
        raise TemnnError(f"detect(): images must have shape (B, ..., nx, ny), got {tuple(images.shape)}")
    if readout is not None and dose is None:
        raise TemnnError("detect(): 'readout' noise needs a 'dose' (electrons per pixel set the noise scale)")
    batch = images.shape[0]
    extra = (1,) * (images.ndim - 1)

    def per_image(values: Sequence[float] | torch.Tensor, name: str) -> torch.Tensor:
        t = torch.as_tensor(values, dtype=torch.float64, device=images.device).reshape(batch, -1)
        if not torch.all(torch.isfinite(t)) or torch.any(t < 0):
            raise TemnnError(f"detect(): '{name}' must be finite and ≥ 0, got {values!r}")
        return t

    s = per_image(sampling, "sampling").reshape(batch, *extra)
    out = images
    if dose is not None:
        dose_t = per_image(dose, "dose")
        if torch.any(dose_t == 0):
            raise TemnnError(f"detect(): 'dose' must be > 0 e⁻/Å² (use None for noise-free images), got {dose!r}")
        electrons = (dose_t.reshape(batch, *extra) * s**2).to(images.dtype)
        signal = torch.clamp(out, min=0) * electrons  # expected counts: transferred without the floor
        out = torch.poisson(signal, generator=generator)
    if mtf is not None:
        c0, c3, floor = per_image(mtf, "mtf").to(images.dtype).reshape(batch, 3, *extra).unbind(1)
        padded, crop = _reflect_pad(out)
        nx, ny = padded.shape[-2:]
        # q̃ = 2·q·s with q = k/(n·s): independent of the pixel size.
        qx = 2 * torch.fft.fftfreq(nx, device=images.device, dtype=images.dtype)[:, None]
        qy = 2 * torch.fft.rfftfreq(ny, device=images.device, dtype=images.dtype)[None, :]
        q = torch.sqrt(qx**2 + qy**2)
        spectrum_shape = (*padded.shape[:-1], ny // 2 + 1)
        core = torch.sqrt(parametric_mtf(q, c0, c3, torch.zeros_like(floor))).expand(spectrum_shape)
        if dose is None or not torch.any(floor > 0):
            # No noise, or C = 0: signal and shot noise share the scintillator's transfer √core.
            parts = [(padded, core)]
        else:
            # The signal through √core; the shot noise (counts - their mean) through √MTF, floor included.
            full = torch.sqrt(parametric_mtf(q, c0, c3, floor)).expand(spectrum_shape)
            expected = _reflect_pad(signal)[0]
            parts = [(expected, core), (padded - expected, full)]
        out = crop(_filter_each(parts, (nx, ny)))
    if dose is not None:
        total = electrons
        if readout is not None:
            n0 = per_image(readout, "readout").reshape(batch, *extra).to(images.dtype)
            out = out + _poisson_per_image(n0.reshape(batch), out.shape, generator).to(out.dtype)
            total = electrons + n0
        out = out / total
    return out


_MIN_MARGIN = 16
"""Smallest reflected margin [pixels] around an image before the MTF filter (module notes)."""


def _reflect_pad(images: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Images (..., nx, ny) reflected about their edges to a fast FFT size, and the crop back.

    Each axis of n pixels gets a margin m = min(n - 1, max(_MIN_MARGIN, n // 4)) on its
    low side and at least m on its high side, up to ``scipy.fft.next_fast_len(n + 2m)``
    (the high margin is at most n - 1, the limit of a single reflection).
    """
    shape = images.shape
    margins = []
    for n in shape[-2:]:
        low = min(n - 1, max(_MIN_MARGIN, n // 4))
        size = min(scipy.fft.next_fast_len(n + 2 * low, real=True), n + low + n - 1)
        margins.append((low, size - n - low))
    (x0, x1), (y0, y1) = margins
    flat = images.reshape(-1, 1, *shape[-2:])
    padded = F.pad(flat, (y0, y1, x0, x1), mode="reflect") if x0 + x1 + y0 + y1 else flat
    padded = padded.reshape(*shape[:-2], *padded.shape[-2:])

    def crop(filtered: torch.Tensor) -> torch.Tensor:
        return filtered[..., x0 : x0 + shape[-2], y0 : y0 + shape[-1]].contiguous()

    return padded, crop


def _filter_each(parts: Sequence[tuple[torch.Tensor, torch.Tensor]], shape: tuple[int, int]) -> torch.Tensor:
    """Σ_parts irfft2(rfft2(images) · transfer) for images (..., nx, ny), one image at a time.

    One transform per image: batched CPU transforms of small power-of-two sizes
    (16-64 measured here) round differently with the number of threads, and an
    image's bytes must not depend on how many workers made the data set.
    """
    lead = parts[0][0].shape[:-2]
    flat = [(x.reshape(-1, *shape), t.reshape(-1, *t.shape[-2:])) for x, t in parts]
    out = []
    for i in range(flat[0][0].shape[0]):
        spectrum = sum(torch.fft.rfft2(x[i]) * t[i] for x, t in flat)
        out.append(torch.fft.irfft2(spectrum, s=shape))
    return torch.stack(out).reshape(*lead, *shape)


def _poisson_per_image(rate: torch.Tensor, shape: torch.Size, generator: torch.Generator | None) -> torch.Tensor:
    """Poisson samples with one rate per image (shape[0] images), by inverting the CDF.

    torch.poisson takes a rate per element and costs ~30-100 ns per sample on a CPU;
    with one rate per image the CDF is one short table, and ``searchsorted`` of
    uniform numbers in it is exact (the table runs until the tail is < 1e-40)
    and several times faster.
    """
    rate = rate.to(torch.float64)
    top = float(rate.max())
    k = torch.arange(math.ceil(top + 14 * math.sqrt(top) + 30) + 1, dtype=torch.float64, device=rate.device)
    log_pmf = torch.xlogy(k, rate[:, None]) - rate[:, None] - torch.lgamma(k + 1)
    cdf = torch.cumsum(torch.exp(log_pmf), dim=-1)
    uniform = torch.rand((shape[0], math.prod(shape[1:])), dtype=torch.float64, device=rate.device, generator=generator)
    counts = torch.searchsorted(cdf, uniform).clamp_(max=len(k) - 1)
    return counts.reshape(shape)
