"""Local standardisation of HR-TEM images (thesis eq. 3.1), batched in torch on any device.

.. math::

    m = \\frac{1}{N_c}\\sum_c G * I_c, \\qquad
    s = \\frac{1}{N_c}\\sum_c \\sqrt{G * (I_c - m)^2}, \\qquad
    \\hat I_c = \\frac{I_c - m}{s + \\varepsilon}

with :math:`G` a normalised Gaussian of width σ = ``normalizedistance / sampling`` pixels.
The thesis prints the denominator as :math:`\\sqrt{G * I_c^2}`; we use the local standard
deviation of the mean-subtracted image, which is what makes the result locally zero-mean
and unit-variance (and what the original code computed). Mean and spread are averaged over
the focal series, so the relative contrast of the images in a series is kept.

The Gaussian is applied in Fourier space: at σ = 120 px a real-space filter costs seconds
per batch (DESIGN.md, 'Measured traps'). The boundaries are symmetric ('reflect', the same
as :func:`scipy.ndimage.gaussian_filter` with ``mode="reflect"``), for every σ, through the
cosine transform of the image (see :func:`gaussian_blur`).
``ε`` is a small fraction of the image's mean absolute intensity, so empty (all-zero) and
saturated (constant) regions give 0, never NaN or inf.

Units: :func:`local_standardise` and :func:`gaussian_blur` are tensor operations inside the
network path and take σ in pixels of the tensor they filter; the length enters in Å as
``normalizedistance`` (the parameters file, the model card, ``predict(normalizedistance=)``)
and becomes pixels in one place, :func:`standardisation_sigma`.
"""

from __future__ import annotations

import functools
import math

import torch

from ..errors import TemnnError

__all__ = ["local_standardise", "gaussian_blur", "standardisation_sigma"]


def standardisation_sigma(normalizedistance: float, sampling: float | torch.Tensor) -> float | torch.Tensor:
    """Width of the standardisation Gaussian in pixels.

    Parameters
    ----------
    normalizedistance : float
        Gaussian width σ [Å] (parameters file ``normalizedistance``).
    sampling : float or torch.Tensor
        Image sampling [Å/pixel], one value or one per image.

    Returns
    -------
    float or torch.Tensor
        σ [pixels].
    """
    return normalizedistance / sampling


def gaussian_blur(images: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Gaussian filter with symmetric ('reflect') boundaries, applied in cosine-Fourier space.

    Parameters
    ----------
    images : torch.Tensor
        Real images (B, C, H, W), float32 or float64.
    sigma : float or torch.Tensor
        Gaussian σ [pixels], one value or one per batch item (shape (B,)).

    Returns
    -------
    torch.Tensor
        Filtered images, same shape and dtype.

    Notes
    -----
    The image mirrored to twice its size is periodic, and its Fourier series holds only
    cosines: the DCT-II. A Gaussian multiplies cosine ``k`` by
    ``exp(-2π²σ²(k/2N)²)``, so the filter is ``Cᵀ diag(g) C`` along each axis. Cosines whose
    factor is below 1e-9 are dropped, which for wide windows (σ = 120 px on 512 px: 9 of 512
    cosines) makes the filter a few thin matrix products instead of full FFTs of the
    mirrored image. torch has no DCT, hence the explicit basis.
    """
    rows, cols = images.shape[-2:]
    sigma = torch.as_tensor(sigma, dtype=images.dtype, device=images.device).reshape(-1)
    cy, gy = _gaussian_cosines(rows, sigma)
    cx, gx = _gaussian_cosines(cols, sigma)
    coefficients = cy @ images @ cx.T
    coefficients = coefficients * (gy[:, None, :, None] * gx[:, None, None, :])
    return cy.T @ coefficients @ cx


def _gaussian_cosines(n: int, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal DCT-II basis (K, n) and the Gaussian's factor per cosine (B, K)."""
    cutoff = math.sqrt(math.log(1e9) / (2 * math.pi**2))  # factor 1e-9 at frequency cutoff/σ
    keep = min(n, int(math.ceil(2 * n * cutoff / float(sigma.min()))) + 1)
    basis = _dct_basis(n, keep, sigma.dtype, str(sigma.device))
    k = torch.arange(keep, dtype=sigma.dtype, device=sigma.device)
    factor = torch.exp(-2 * math.pi**2 * (sigma[:, None] * k[None, :] / (2 * n)) ** 2)
    return basis, factor


@functools.lru_cache(maxsize=32)
def _dct_basis(n: int, keep: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    k = torch.arange(keep, dtype=torch.float64)[:, None]
    x = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (x + 0.5) / n) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis.to(dtype=dtype, device=device)


def local_standardise(images: torch.Tensor, sigma: float | torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """Locally standardise focal series to zero mean and unit spread (thesis eq. 3.1).

    Parameters
    ----------
    images : torch.Tensor
        Image batch (B, C, H, W) or one series (C, H, W); C is the focal-series length.
    sigma : float or torch.Tensor
        Width of the Gaussian window [pixels], one value or one per series (shape (B,)): a
        tensor operation on the pixel grid; give the length [Å] to
        :func:`standardisation_sigma` to get it.
    eps : float
        Regulariser of the spread, as a fraction of each series' mean absolute intensity [1].

    Returns
    -------
    torch.Tensor
        Standardised images, same shape, float32 (float64 for float64 input).

    Examples
    --------
    >>> import torch
    >>> flat = torch.full((1, 2, 32, 32), 7.0)
    >>> float(local_standardise(flat, 4.0).abs().max())
    0.0
    """
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4:
        raise TemnnError(
            f"local_standardise expects images of shape (batch, channels, rows, columns), got {tuple(images.shape)}"
        )
    if not torch.is_floating_point(images) or images.dtype in (torch.float16, torch.bfloat16):
        images = images.float()
    sigma_t = torch.as_tensor(sigma, dtype=images.dtype, device=images.device).reshape(-1)
    if not bool(torch.all(sigma_t > 0)):
        raise TemnnError(f"the standardisation width must be > 0 pixels (normalizedistance / sampling), got {sigma}")
    # Removing each series' global mean first is exact (G has unit area) and keeps the FFT
    # round-off at the scale of the contrast instead of the mean intensity.
    scale = images.abs().mean(dim=(1, 2, 3), keepdim=True)
    centred = images - images.mean(dim=(1, 2, 3), keepdim=True)
    mean = gaussian_blur(centred.mean(dim=1, keepdim=True), sigma_t)
    deviation = centred - mean
    variance = gaussian_blur(deviation.square(), sigma_t).clamp_min(0)
    spread = variance.sqrt().mean(dim=1, keepdim=True)
    out = deviation / (spread + eps * scale + torch.finfo(images.dtype).tiny)
    return out[0] if single else out
