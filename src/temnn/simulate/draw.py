"""The microscope of one sample: a draw from the ranges of the parameters file.

Every image gets its own :class:`MicroscopeParameters`, drawn by
:func:`draw_microscope` from the sample's own generator (``temnn._random.sample_rng``),
and saved beside the image as JSON (:meth:`MicroscopeParameters.to_dict`). A
focal series shares everything except the defocus.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .._random import keyword_rng
from ..errors import TemnnError
from ..aberrations import ABERRATION_KEYS, Aberrations
from ..parameters import Parameters

__all__ = ["MicroscopeParameters", "draw_microscope", "least_damped_microscopes", "ABERRATION_KEYS"]

@dataclass(frozen=True)
class MicroscopeParameters(Aberrations):
    """Microscope, optics and detector settings of one image or focal series.

    Parameters
    ----------
    sampling : float
        Image sampling [Å/pixel].
    defocus : tuple[float, ...]
        Defocus Δf = -C10 of each image of the series [Å] (one value for a single image).
    energy : float
        Beam energy [eV].
    C12, C21, C23, C30, C32, C34, C45 : float
        Polar aberration magnitudes [Å] (Krivanek notation; C30 = Cs), keyword-only
        (:class:`temnn.aberrations.Aberrations`).
    phi12, phi21, phi23, phi32, phi34, phi45 : float
        Aberration angles [rad], keyword-only.
    focal_spread : float
        Focal spread Δ of the temporal-coherence envelope [Å] (abTEM's ``focal_spread``).
    angular_spread : float
        Beam convergence semi-angle β of the spatial-coherence envelope [mrad].
    aperture : float or None
        Objective-aperture semi-angle [mrad]; ``None`` for no aperture.
    blur : float
        Standard deviation σ of the Gaussian image blur [Å].
    dose : float or None
        Electron dose [e⁻/Å²]; ``None`` for noise-free images.
    mtf : tuple[float, float, float] or None
        Detector MTF (c0 [fraction of Nyquist], c3 [1], floor C [1]); ``None`` for none.
    readout : float or None
        Mean readout noise N0 [electrons/pixel]; ``None`` for none.
    """

    sampling: float
    defocus: tuple[float, ...]
    energy: float
    focal_spread: float = 0.0
    angular_spread: float = 0.0
    aperture: float | None = None
    blur: float = 0.0
    dose: float | None = None
    mtf: tuple[float, float, float] | None = None
    readout: float | None = None

    def __post_init__(self) -> None:
        defocus = np.atleast_1d(np.asarray(self.defocus, dtype=np.float64))
        if defocus.ndim != 1 or len(defocus) == 0:
            raise TemnnError(f"MicroscopeParameters: 'defocus' must be one or more values in Å, got {self.defocus!r}")
        object.__setattr__(self, "defocus", tuple(float(d) for d in defocus))
        for name in ("sampling", "energy"):
            value = getattr(self, name)
            if not (_finite(value) and value > 0):
                raise TemnnError(f"MicroscopeParameters: '{name}' must be a positive number, got {value!r}")
        for name in ("focal_spread", "angular_spread", "blur") + ABERRATION_KEYS:
            value = getattr(self, name)
            if not _finite(value):
                raise TemnnError(f"MicroscopeParameters: '{name}' must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("aperture", "dose", "readout"):
            value = getattr(self, name)
            if value is not None:
                if not (_finite(value) and value >= 0):
                    raise TemnnError(f"MicroscopeParameters: '{name}' must be None or a number ≥ 0, got {value!r}")
                object.__setattr__(self, name, float(value))
        if self.mtf is not None:
            if len(self.mtf) != 3 or not all(_finite(v) for v in self.mtf):
                raise TemnnError(
                    f"MicroscopeParameters: 'mtf' must be None or (c0, c3, floor) numbers, got {self.mtf!r}"
                )
            object.__setattr__(self, "mtf", tuple(float(v) for v in self.mtf))
        object.__setattr__(self, "sampling", float(self.sampling))
        object.__setattr__(self, "energy", float(self.energy))

    @property
    def num_images(self) -> int:
        """Images in the focal series (1 for a single image)."""
        return len(self.defocus)

    @property
    def aberrations(self) -> dict[str, float]:
        """Polar aberrations other than defocus, ``{"C12": …, "phi12": …, …}`` [Å, rad]."""
        return {key: getattr(self, key) for key in ABERRATION_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` inverts it exactly."""
        out = dataclasses.asdict(self)
        out["defocus"] = list(self.defocus)
        out["mtf"] = None if self.mtf is None else list(self.mtf)
        return {key: out[key] for key in _JSON_ORDER}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MicroscopeParameters":
        """Build from :meth:`to_dict` output (e.g. a per-image JSON file)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TemnnError(f"microscope parameters: unknown field(s) {unknown}; expected some of {sorted(known)}")
        data = dict(data)
        if data.get("mtf") is not None:
            data["mtf"] = tuple(data["mtf"])
        try:
            return cls(**data)
        except TypeError as err:
            raise TemnnError(f"microscope parameters: {err}") from None


_OWN_FIELDS = tuple(f.name for f in dataclasses.fields(MicroscopeParameters) if f.name not in ABERRATION_KEYS)
_JSON_ORDER = _OWN_FIELDS[:3] + ABERRATION_KEYS + _OWN_FIELDS[3:]
"""Key order of the per-image JSON files: sampling, defocus, energy, the aberrations, then the rest (as ever)."""


@keyword_rng(1)
def draw_microscope(parameters: Parameters, *, rng: np.random.Generator, energy: float) -> MicroscopeParameters:
    """Draw one sample's microscope from the ranges of a parameters file.

    The dose is log-uniform in ``log_dose``, every other value uniform in its range.
    A fixed number of values is drawn whatever the options (a disabled option
    still consumes its draw), so switching noise, MTF or readout on or off does
    not change the other values of a sample. For a focal series
    ``multifocus = (n, step, jitter)`` the ``n - 1`` steps are ``step ± jitter``
    (uniform) and the first defocus is drawn uniformly among the positions that
    keep the whole series inside ``defocus``. Readout noise is drawn only with
    shot noise (``noise`` not ``None``): it is counted in the same electrons.

    Parameters
    ----------
    parameters : temnn.Parameters
        Ranges to draw from.
    rng : numpy.random.Generator
        The sample's generator (``temnn._random.sample_rng(seed, index, epoch, stage="images")``).
    energy : float
        Beam energy of the sample's exit wave [eV].

    Returns
    -------
    MicroscopeParameters
    """
    p = parameters
    ranges: list[tuple[float, float]] = [p.sampling, p.focal_spread, p.angular_spread, p.blur, p.log_dose]
    ranges += [p.mtf_c0, p.mtf_c3, p.mtf_floor, p.readout or (0.0, 0.0)]
    ranges += [getattr(p, "ctf_" + key.lower()) for key in ABERRATION_KEYS]
    u = rng.random(len(ranges))
    value = [lo + (hi - lo) * ui for (lo, hi), ui in zip(ranges, u)]
    sampling, focal_spread, angular_spread, blur, log_dose, c0, c3, floor, readout = value[:9]
    aberrations = dict(zip(ABERRATION_KEYS, value[9:]))
    return MicroscopeParameters(
        sampling=sampling,
        defocus=_draw_defocus(p, rng),
        energy=energy,
        focal_spread=focal_spread,
        angular_spread=angular_spread,
        aperture=p.aperture,
        blur=blur,
        dose=10.0**log_dose if p.noise is not None else None,
        mtf=(c0, c3, floor) if p.mtf is not None else None,
        readout=readout if p.readout is not None and p.noise is not None else None,
        **aberrations,
    )


def least_damped_microscopes(parameters: Parameters, *, energy: float) -> tuple[MicroscopeParameters, ...]:
    """The noise-free microscopes of a parameters file whose images hold the most detail.

    For accuracy checks (:func:`temnn.simulate.waves.converge_slice_thickness`): one
    focal series at the low, middle and high end of ``defocus`` for each end of the
    ``sampling`` range, with the focal spread, angular spread and blur at the low end
    of their ranges (the least damped transfer: the strictest comparison), every other
    aberration at the middle of its range, the file's aperture, and no dose, MTF or
    readout.

    Parameters
    ----------
    parameters : temnn.Parameters
        Ranges of the data set's images.
    energy : float
        Beam energy [eV].

    Returns
    -------
    tuple of MicroscopeParameters
        One (two when the sampling range is not a single value) three-image focal series.
    """
    p = parameters
    low, high = p.defocus
    aberrations = {key: sum(getattr(p, "ctf_" + key.lower())) / 2 for key in ABERRATION_KEYS}
    samplings = sorted(set(p.sampling))
    return tuple(
        MicroscopeParameters(
            sampling=s, defocus=(low, (low + high) / 2, high), energy=energy, focal_spread=p.focal_spread[0],
            angular_spread=p.angular_spread[0], aperture=p.aperture, blur=p.blur[0], **aberrations,
        )
        for s in samplings
    )


def _draw_defocus(p: Parameters, rng: np.random.Generator) -> tuple[float, ...]:
    lo, hi = p.defocus
    if p.multifocus is None:
        return (lo + (hi - lo) * rng.random(),)
    n, step, jitter = p.multifocus
    steps = step + jitter * (2 * rng.random(n - 1) - 1)
    offsets = np.concatenate([[0.0], np.cumsum(steps)])
    # First defocus such that lo <= first + min(offsets) and first + max(offsets) <= hi;
    # Parameters guarantees (n - 1)(|step| + jitter) <= hi - lo, so the interval is not empty.
    first_lo, first_hi = lo - offsets.min(), hi - offsets.max()
    first = first_lo + (first_hi - first_lo) * rng.random()
    return tuple(float(d) for d in np.clip(first + offsets, lo, hi))


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and math.isfinite(v)
