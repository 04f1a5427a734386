"""Objective-lens optics: wavelength, Scherzer defocus, phase error χ, envelopes, the CTF.

Conventions follow abTEM 1.0 so that a transfer function built here equals
``abtem.CTF`` for the same coefficients (thesis section 1.2, eqs. 1.10-1.23):

- Polar (Krivanek) aberrations C_nm [Å] with angles φ_nm [rad]; defocus Δf = -C10,
  Cs = C30. With α = λ|q| the scattering angle and φ the azimuth of q,

  χ(α, φ) = 2π/λ · Σ_nm C_nm α^(n+1)/(n+1) · cos(m(φ - φ_nm)),

  and the wave transfer function is T = A · E_t · E_s · exp(-iχ) (thesis eq. 1.11,
  1.23). For defocus and Cs alone, χ = -π λ Δf q² + π/2 Cs λ³ q⁴: thesis eq. 1.13
  with abTEM's sign of the defocus term (Δf = -C10).
- Aperture A: hard edge, 1 for α ≤ semi-angle, 0 outside (``abtem.CTF(soft=False)``;
  abTEM's default soft edge ramps over one reciprocal pixel).
- Temporal coherence (eq. 1.21): E_t = exp(-(π Δ α² / (2λ))²) with Δ the focal
  spread as abTEM defines it, the 1/e half-width of the defocus distribution
  (Kirkland's convention; Δ = √2 · standard deviation).
- Spatial coherence (eq. 1.20): E_s = exp(-(β/2)² |∇_α χ|²) with β the angular
  spread [mrad → rad] and the gradient taken over all aberrations, as in abTEM
  (abTEM calls β a standard deviation; numerically it is thesis eq. 1.19's 1/e width q_s = β/λ).
- Gaussian blur (eq. 1.22) is not part of the wave's transfer function: vibration
  and drift displace the *image* at random, so they convolve the intensity with a
  Gaussian of standard deviation σ [Å]. Its transfer function is the Fourier
  transform of that Gaussian, exp(-2π²σ²q²) with q in 1/Å (the thesis' form
  exp(-σ²q²/2) with q an angular wavenumber 2π/d), applied to the intensity
  spectrum, which is what ``scipy.ndimage.gaussian_filter(image, σ/s)`` does in
  real space (:func:`blur_envelope`).

The formulas are written once, in PyTorch, so that the batched image formation
runs on CPU or GPU; the NumPy entry points (:func:`ctf`, :meth:`CTF.evaluate`)
call them with CPU float64 tensors.

References
----------
Kirkland, E. J. (2010). *Advanced Computing in Electron Microscopy*, 2nd ed., ch. 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence, Union

import numpy as np
import torch
from scipy import constants

from ..aberrations import POLAR_TERMS, Aberrations
from ..errors import TemnnError

if TYPE_CHECKING:
    from .draw import MicroscopeParameters

__all__ = [
    "POLAR_TERMS",
    "wavelength",
    "scherzer_defocus",
    "polar_frequencies",
    "phase_error",
    "phase_error_gradient",
    "aperture",
    "temporal_envelope",
    "spatial_envelope",
    "blur_envelope",
    "transfer_function",
    "focal_series",
    "CTF",
    "ctf",
]

Coefficient = Union[float, torch.Tensor]



def wavelength(energy: float) -> float:
    """Relativistic de Broglie wavelength of an electron.

    Parameters
    ----------
    energy : float
        Kinetic energy of the electron [eV].

    Returns
    -------
    float
        Wavelength [Å].

    Examples
    --------
    >>> round(wavelength(50e3), 5), round(wavelength(300e3), 5)
    (0.05355, 0.01969)
    """
    if not (isinstance(energy, (int, float, np.number)) and math.isfinite(energy) and energy > 0):
        raise TemnnError(f"energy must be a positive number in eV (e.g. 300e3), got {energy!r}")
    rest_energy = constants.m_e * constants.c**2 / constants.e  # [eV]
    return float(constants.h * constants.c / math.sqrt(energy * (2 * rest_energy + energy)) / constants.e * 1e10)


def scherzer_defocus(Cs: float, energy: float) -> float:
    """(Extended) Scherzer defocus in abTEM's convention.

    ``Δf = sign(Cs) · √(3/2 · |Cs| · λ)``, thesis eq. 1.17 (``|1.2| ≈ √1.5``) with the
    sign of defocus = -C10: positive for positive Cs.

    Parameters
    ----------
    Cs : float
        Spherical aberration C30 [Å].
    energy : float
        Beam energy [eV].

    Returns
    -------
    float
        Defocus [Å].

    Examples
    --------
    >>> round(scherzer_defocus(5e4, 300e3), 2)   # thesis figure 1.3: Cs = 5 µm at 300 keV
    38.43
    """
    return float(np.sign(Cs) * math.sqrt(1.5 * abs(Cs) * wavelength(energy)))


def polar_frequencies(
    gpts: tuple[int, int],
    sampling: float | tuple[float, float],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial frequencies of an FFT grid in polar form (FFT order, ``[ix, iy]``).

    Parameters
    ----------
    gpts : tuple[int, int]
        Grid size (nx, ny) [pixels].
    sampling : float or tuple[float, float]
        Real-space sampling [Å/pixel].
    device, dtype
        Where and how to build the grid.

    Returns
    -------
    q : torch.Tensor, shape (nx, ny)
        Modulus of the spatial frequency [1/Å].
    phi : torch.Tensor, shape (nx, ny)
        Azimuth ``atan2(qy, qx)`` [rad].
    """
    sx, sy = _pair(sampling)
    qx = torch.fft.fftfreq(gpts[0], d=sx, device=device, dtype=dtype)[:, None]
    qy = torch.fft.fftfreq(gpts[1], d=sy, device=device, dtype=dtype)[None, :]
    return torch.sqrt(qx**2 + qy**2), torch.atan2(qy, qx)


def phase_error(
    alpha: torch.Tensor, phi: torch.Tensor, wavelength: float, coefficients: Mapping[str, Coefficient]
) -> torch.Tensor:
    """Phase error χ of the objective lens (abTEM's polar expansion).

    Parameters
    ----------
    alpha : torch.Tensor
        Scattering angle α = λ|q| [rad].
    phi : torch.Tensor
        Azimuth of q [rad], broadcastable with ``alpha``.
    wavelength : float
        Electron wavelength [Å].
    coefficients : mapping
        ``{"C10": …, "C12": …, "phi12": …, …}`` [Å, rad]; missing entries are 0.
        Values may be tensors that broadcast against ``alpha`` (e.g. shape (B, 1, 1)).

    Returns
    -------
    torch.Tensor
        χ [rad].
    """
    powers = _Powers(alpha)
    chi = torch.zeros_like(alpha)
    for angle, n, m, magnitude in _terms(coefficients):
        chi = chi + powers[n + 1] * _azimuthal(phi, m, magnitude / (n + 1), coefficients.get(angle, 0.0), cosine=True)
    return chi * (2 * math.pi / wavelength)


def phase_error_gradient(
    alpha: torch.Tensor, phi: torch.Tensor, wavelength: float, coefficients: Mapping[str, Coefficient]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of χ with respect to the scattering angle.

    Parameters
    ----------
    alpha, phi, wavelength, coefficients
        As in :func:`phase_error`.

    Returns
    -------
    radial : torch.Tensor
        ∂χ/∂α [rad/rad].
    azimuthal : torch.Tensor
        (1/α) ∂χ/∂φ [rad/rad].
    """
    powers = _Powers(alpha)
    radial = torch.zeros_like(alpha)
    azimuthal = torch.zeros_like(alpha)
    for angle, n, m, magnitude in _terms(coefficients):
        phi_nm = coefficients.get(angle, 0.0)
        radial = radial + powers[n] * _azimuthal(phi, m, magnitude, phi_nm, cosine=True)
        if m:
            azimuthal = azimuthal - powers[n] * _azimuthal(phi, m, magnitude * m / (n + 1), phi_nm, cosine=False)
    scale = 2 * math.pi / wavelength
    return radial * scale, azimuthal * scale


def aperture(alpha: torch.Tensor, semiangle: Coefficient | None) -> torch.Tensor:
    """Hard-edged objective aperture: 1 for α ≤ semi-angle, else 0.

    Parameters
    ----------
    alpha : torch.Tensor
        Scattering angle [rad].
    semiangle : float, torch.Tensor or None
        Aperture semi-angle [mrad]; ``None`` (or ∞) for no aperture.
    """
    if semiangle is None:
        return torch.ones_like(alpha)
    return (alpha <= torch.as_tensor(semiangle, dtype=alpha.dtype, device=alpha.device) * 1e-3).to(alpha.dtype)


def temporal_envelope(alpha: torch.Tensor, wavelength: float, focal_spread: Coefficient) -> torch.Tensor:
    """Partial temporal coherence, thesis eq. 1.21: exp(-(π Δ α² / (2λ))²).

    Parameters
    ----------
    alpha : torch.Tensor
        Scattering angle [rad].
    wavelength : float
        Electron wavelength [Å].
    focal_spread : float or torch.Tensor
        Focal spread Δ [Å], the 1/e half-width of the defocus distribution (abTEM's ``focal_spread``).
    """
    return _decay((0.5 * math.pi / wavelength * focal_spread * alpha**2) ** 2)


def spatial_envelope(
    alpha: torch.Tensor,
    phi: torch.Tensor,
    wavelength: float,
    coefficients: Mapping[str, Coefficient],
    angular_spread: Coefficient,
) -> torch.Tensor:
    """Partial spatial coherence, thesis eq. 1.20: exp(-(β/2)² |∇_α χ|²).

    Parameters
    ----------
    alpha, phi, wavelength, coefficients
        As in :func:`phase_error` (all aberrations enter the gradient).
    angular_spread : float or torch.Tensor
        Beam convergence β [mrad] (abTEM's ``angular_spread``).
    """
    radial, azimuthal = phase_error_gradient(alpha, phi, wavelength, coefficients)
    return _decay((angular_spread * 1e-3 / 2) ** 2 * (radial**2 + azimuthal**2))


def blur_envelope(q: torch.Tensor, sigma: Coefficient) -> torch.Tensor:
    """Transfer function of a Gaussian image blur: exp(-2π²σ²q²).

    It multiplies the Fourier transform of the *intensity* (see the module notes).

    Parameters
    ----------
    q : torch.Tensor
        Spatial frequency [1/Å].
    sigma : float or torch.Tensor
        Standard deviation of the real-space Gaussian [Å].
    """
    return _decay(2 * math.pi**2 * (sigma * q) ** 2)


def transfer_function(
    q: torch.Tensor,
    phi: torch.Tensor,
    wavelength: float,
    coefficients: Mapping[str, Coefficient],
    *,
    focal_spread: Coefficient = 0.0,
    angular_spread: Coefficient = 0.0,
    semiangle: Coefficient | None = None,
) -> torch.Tensor:
    """Complex wave transfer function T = A · E_t · E_s · exp(-iχ) (thesis eq. 1.23).

    Parameters
    ----------
    q : torch.Tensor
        Spatial frequency [1/Å] (e.g. from :func:`polar_frequencies`).
    phi : torch.Tensor
        Azimuth of q [rad].
    wavelength : float
        Electron wavelength [Å].
    coefficients : mapping
        Polar aberrations incl. ``C10`` = -defocus [Å, rad], floats or broadcastable tensors.
    focal_spread : float or torch.Tensor
        Focal spread [Å] (:func:`temporal_envelope`); 0 for none.
    angular_spread : float or torch.Tensor
        Angular spread [mrad] (:func:`spatial_envelope`); 0 for none.
    semiangle : float, torch.Tensor or None
        Objective-aperture semi-angle [mrad]; ``None`` for none.

    Returns
    -------
    torch.Tensor
        Complex transfer function (complex128 for float64 input, complex64 for float32).
    """
    defocus = -coefficients.get("C10", 0.0)
    (single,) = focal_series(
        q,
        phi,
        wavelength,
        coefficients,
        [defocus],
        focal_spread=focal_spread,
        angular_spread=angular_spread,
        semiangle=semiangle,
    )
    return single


def focal_series(
    q: torch.Tensor,
    phi: torch.Tensor,
    wavelength: float,
    coefficients: Mapping[str, Coefficient],
    defoci: Sequence[Coefficient],
    *,
    focal_spread: Coefficient = 0.0,
    angular_spread: Coefficient = 0.0,
    semiangle: Coefficient | None = None,
) -> Iterator[torch.Tensor]:
    """Transfer functions of one lens at several defoci (a focal series).

    The parts that do not depend on the defocus (the other aberrations, the
    aperture and the temporal envelope) are computed once.

    Parameters
    ----------
    q, phi, wavelength, focal_spread, angular_spread, semiangle
        As in :func:`transfer_function`.
    coefficients : mapping
        Polar aberrations [Å, rad]; a ``C10`` entry is ignored (the defoci set it).
    defoci : sequence of float or torch.Tensor
        Defocus Δf = -C10 of each image [Å].

    Yields
    ------
    torch.Tensor
        The complex transfer function of each defocus in turn.
    """
    alpha = q * wavelength
    others = {key: value for key, value in coefficients.items() if key != "C10"}
    chi_others = phase_error(alpha, phi, wavelength, others)
    defocus_phase = (math.pi / wavelength) * alpha**2  # χ of C10 = -1 Å
    envelopes = []
    if semiangle is not None:
        envelopes.append(aperture(alpha, semiangle))
    if _nonzero(focal_spread):
        envelopes.append(temporal_envelope(alpha, wavelength, focal_spread))
    envelope = math.prod(envelopes[1:], start=envelopes[0]) if envelopes else None
    for defocus in defoci:
        # χ reaches 1e5 rad at the corners of fine grids: reduced modulo 2π it keeps its
        # precision in a complex64 result, and cos/sin stay on their fast path (they slow
        # down ~10× beyond |x| ≈ 1e5 on CPUs).
        chi = torch.remainder(chi_others - defocus * defocus_phase, 2 * math.pi)
        total = envelope
        if _nonzero(angular_spread):
            spatial = spatial_envelope(alpha, phi, wavelength, {**others, "C10": -defocus}, angular_spread)
            total = spatial if total is None else total * spatial
        real, imag = torch.cos(chi), -torch.sin(chi)
        if total is not None:
            real, imag = real * total, imag * total
        # torch.complex of the two parts is ~2× faster than torch.polar on CPUs.
        yield torch.complex(*torch.broadcast_tensors(real, imag))


@dataclass(frozen=True)
class CTF(Aberrations):
    """Contrast transfer function of the objective lens for one image.

    Parameters
    ----------
    energy : float
        Beam energy [eV].
    defocus : float
        Defocus Δf = -C10 [Å].
    C12, C21, C23, C30, C32, C34, C45 : float
        Polar aberration magnitudes [Å] (C30 = Cs), keyword-only (:class:`temnn.aberrations.Aberrations`).
    phi12, phi21, phi23, phi32, phi34, phi45 : float
        Aberration angles [rad], keyword-only.
    focal_spread : float
        Focal spread, the 1/e half-width of the defocus distribution [Å].
    angular_spread : float
        Beam convergence semi-angle β [mrad].
    aperture : float or None
        Objective-aperture semi-angle [mrad]; ``None`` for none.

    Examples
    --------
    >>> t = CTF(energy=300e3, defocus=scherzer_defocus(5e4, 300e3), C30=5e4)
    >>> array = t.evaluate((64, 64), 0.1)
    >>> array.shape, bool(abs(array[0, 0] - 1) < 1e-12)
    ((64, 64), True)
    """

    energy: float
    defocus: float = 0.0
    focal_spread: float = 0.0
    angular_spread: float = 0.0
    aperture: float | None = None

    def __post_init__(self) -> None:
        wavelength(self.energy)  # validates the energy
        for name in ("focal_spread", "angular_spread"):
            if getattr(self, name) < 0:
                raise TemnnError(f"CTF: '{name}' must be ≥ 0, got {getattr(self, name)!r}")
        if self.aperture is not None and not self.aperture > 0:
            raise TemnnError(f"CTF: 'aperture' must be None or a positive semi-angle in mrad, got {self.aperture!r}")

    @property
    def wavelength(self) -> float:
        """Electron wavelength [Å]."""
        return wavelength(self.energy)

    @property
    def coefficients(self) -> dict[str, float]:
        """Polar aberrations including ``C10`` = -defocus [Å, rad]."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name[0] in "Cp"}
        out["C10"] = -self.defocus
        return out

    @classmethod
    def from_microscope(cls, micro: MicroscopeParameters, image: int = 0) -> CTF:
        """The CTF of image ``image`` of a focal series drawn by :func:`temnn.simulate.draw.draw_microscope`."""
        return cls(
            energy=micro.energy,
            defocus=micro.defocus[image],
            focal_spread=micro.focal_spread,
            angular_spread=micro.angular_spread,
            aperture=micro.aperture,
            **micro.aberrations,
        )

    def evaluate(self, gpts: tuple[int, int], sampling: float | tuple[float, float]) -> np.ndarray:
        """The complex CTF on the FFT grid of a real-space grid (FFT order, ``[ix, iy]``).

        Parameters
        ----------
        gpts : tuple[int, int]
            Real-space grid (nx, ny) [pixels].
        sampling : float or tuple[float, float]
            Real-space sampling [Å/pixel].

        Returns
        -------
        numpy.ndarray, complex128, shape (nx, ny)
            Multiply the FFT of an exit wave by this array to get the image wave.
        """
        q, phi = polar_frequencies(gpts, sampling, dtype=torch.float64)
        return transfer_function(
            q,
            phi,
            self.wavelength,
            self.coefficients,
            focal_spread=self.focal_spread,
            angular_spread=self.angular_spread,
            semiangle=self.aperture,
        ).numpy()


def ctf(
    gpts: tuple[int, int], sampling: float | tuple[float, float], energy: float, **parameters: float | None
) -> np.ndarray:
    """The complex CTF on an FFT grid: ``CTF(energy, **parameters).evaluate(gpts, sampling)``.

    Parameters
    ----------
    gpts : tuple[int, int]
        Real-space grid (nx, ny) [pixels].
    sampling : float or tuple[float, float]
        Real-space sampling [Å/pixel].
    energy : float
        Beam energy [eV].
    **parameters
        Fields of :class:`CTF`: ``defocus`` [Å], ``C30`` [Å], ``phi12`` [rad],
        ``focal_spread`` [Å], ``angular_spread`` [mrad], ``aperture`` [mrad], …

    Returns
    -------
    numpy.ndarray, complex128, shape (nx, ny)
    """
    known = {f.name for f in fields(CTF)} - {"energy"}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise TemnnError(f"ctf(): unknown parameter(s) {unknown}; expected some of {sorted(known)}")
    return CTF(energy=energy, **parameters).evaluate(gpts, sampling)


# --------------------------------------------------------------------- helpers
def _terms(coefficients: Mapping[str, Coefficient]) -> Iterator[tuple[str | None, int, int, Coefficient]]:
    for name, angle, n, m in POLAR_TERMS:
        magnitude = coefficients.get(name, 0.0)
        if _nonzero(magnitude):
            yield angle, n, m, magnitude


def _azimuthal(
    phi: torch.Tensor, m: int, magnitude: Coefficient, phi_nm: Coefficient, *, cosine: bool
) -> torch.Tensor | Coefficient:
    """magnitude · cos(m(φ - φ_nm)) (or sin), expanded so the trigonometry runs on
    the frequency grid once, not once per image of a batch."""
    if m == 0:
        return magnitude
    cos_m, sin_m = torch.cos(m * phi), torch.sin(m * phi)
    a = magnitude * (torch.cos(m * torch.as_tensor(phi_nm, dtype=phi.dtype, device=phi.device)))
    b = magnitude * (torch.sin(m * torch.as_tensor(phi_nm, dtype=phi.dtype, device=phi.device)))
    if cosine:  # cos(mφ - mφ_nm) = cos mφ cos mφ_nm + sin mφ sin mφ_nm
        return cos_m * a + sin_m * b
    return sin_m * a - cos_m * b  # sin(mφ - mφ_nm)


class _Powers:
    """α^p by repeated multiplication (much faster than ``pow`` on large grids), cached."""

    def __init__(self, alpha: torch.Tensor) -> None:
        self._cache = {0: torch.ones_like(alpha), 1: alpha}

    def __getitem__(self, p: int) -> torch.Tensor:
        if p not in self._cache:
            self._cache[p] = self[p // 2] * self[p - p // 2]
        return self._cache[p]


def _decay(exponent: torch.Tensor) -> torch.Tensor:
    """exp(-exponent) for exponent ≥ 0, floored at exp(-80) ≈ 2e-35: exp underflowing into
    subnormal numbers is ~4× slower on CPUs, and 2e-35 is 0 for every purpose here."""
    return torch.exp(-torch.clamp(exponent, max=80.0))


def _nonzero(value: Coefficient | None) -> bool:
    if value is None:
        return False
    if isinstance(value, torch.Tensor):
        return bool(torch.any(value != 0))
    return value != 0


def _pair(sampling: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(sampling, (tuple, list)):
        return float(sampling[0]), float(sampling[1])
    return float(sampling), float(sampling)
