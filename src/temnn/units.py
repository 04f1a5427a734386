"""Units as files and microscopes write them: lengths to Å, times to seconds.

The one table of unit names for every reader (microscope files, TIFF stacks): a name is
looked up as written, then in lower case. :func:`length_in_pixels` is the one place where a
public function turns a length [Å] into pixels, and where the spellings of lengths that were
once in pixels or nm live on as deprecation aliases.
"""

from __future__ import annotations

import math
import warnings
from types import MappingProxyType
from typing import Mapping

from .checks import positive_sampling
from .errors import TemnnError

__all__ = ["ANGSTROM_PER_UNIT", "SECONDS_PER_UNIT", "angstrom_per_unit", "length_in_pixels", "unit_factor"]

ANGSTROM_PER_UNIT: Mapping[str, float] = MappingProxyType({
    "m": 1e10,
    "mm": 1e7,
    "µm": 1e4,  # micro sign U+00B5 (DigitalMicrograph, rsciio's TIFF reader)
    "μm": 1e4,  # Greek mu U+03BC
    "um": 1e4,
    "micron": 1e4,
    "micrometer": 1e4,
    "micrometre": 1e4,
    "nm": 10.0,
    "nanometer": 10.0,
    "nanometre": 10.0,
    "å": 1.0,  # U+00C5
    "Å": 1.0,  # ångström sign U+212B
    "a": 1.0,
    "angstrom": 1.0,
    "pm": 0.01,
    "picometer": 0.01,
})
"""Å per length unit."""
SECONDS_PER_UNIT: Mapping[str, float] = MappingProxyType(
    {"s": 1.0, "sec": 1.0, "ms": 1e-3, "µs": 1e-6, "μs": 1e-6, "us": 1e-6, "ns": 1e-9, "min": 60.0}
)
"""Seconds per time unit."""
_PIXEL_UNITS = frozenset({"", "px", "pixel", "pixels", "<undefined>", "undefined", "none"})
"""Axis units that mean: uncalibrated."""


def unit_factor(table: Mapping[str, float], unit: object) -> float | None:
    """The factor of ``unit`` in ``table`` (name as written, else lower case), None if unknown.

    Examples
    --------
    >>> unit_factor(ANGSTROM_PER_UNIT, "A"), unit_factor(SECONDS_PER_UNIT, "sec"), unit_factor(SECONDS_PER_UNIT, "h")
    (1.0, 1.0, None)
    """
    text = str(unit).strip()
    return table.get(text, table.get(text.lower()))


def angstrom_per_unit(unit: str | None, *, where: str = "calibration") -> float | None:
    """Length of one calibration unit [Å], or None for an uncalibrated (pixel) axis.

    Parameters
    ----------
    unit : str or None
        Axis unit as the file states it (``"nm"``, ``"µm"``, ``"um"``, ``"pm"``, ``"Å"``, …).
    where : str
        What the unit belongs to (file and axis), for the error message.

    Returns
    -------
    float or None
        Å per unit; None when the axis has no length unit (pixels, empty, undefined).

    Raises
    ------
    TemnnError
        A reciprocal unit (``1/nm``: a diffraction pattern or an FFT) or a unit that is no
        length.

    Examples
    --------
    >>> angstrom_per_unit("µm")
    10000.0
    >>> angstrom_per_unit(None) is None
    True
    """
    if unit is None:
        return None
    text = str(unit).strip()
    key = text.lower() if text not in ANGSTROM_PER_UNIT else text
    if key in _PIXEL_UNITS:
        return None
    compact = key.replace(" ", "")
    if compact.startswith("1/") or compact.endswith("^-1") or compact.endswith("-1"):
        raise TemnnError(
            f"{where}: the pixel size is in reciprocal units ({text!r}), i.e. this is a diffraction pattern "
            "or a Fourier transform; temnn analyses real-space HR-TEM images (calibrated in nm, µm, pm or Å)"
        )
    if key in ANGSTROM_PER_UNIT:
        return ANGSTROM_PER_UNIT[key]
    raise TemnnError(
        f"{where}: unknown length unit {text!r} (expected one of m, mm, µm, um, nm, Å, pm); "
        "give the pixel size explicitly with sampling= (--sampling) in Å/pixel"
    )


def length_in_pixels(where: str, *, name: str, value: float | None, sampling: float | None,
                     old_name: str | None = None, old_value: float | None = None, old_unit: str = "pixel",
                     default: float | None = None, depth: int = 0) -> float | None:
    """A length argument of a public function, in pixels of the image it applies to.

    Public functions take lengths in Å, with the pixel size ``sampling`` [Å/pixel]. A keyword
    that used to be in pixels or nm keeps its old spelling (``old_name``, in ``old_unit``) for
    one release: it gives the old result, with a :class:`DeprecationWarning` that names the new
    keyword and its unit. No keyword changes its unit: an old call either keeps its meaning
    (and warns) or fails.

    Parameters
    ----------
    where : str
        The function, for the messages (``"find_peaks"``).
    name : str
        The keyword in Å (``"min_spacing"``).
    value : float or None
        Its value [Å].
    sampling : float or None
        Pixel size [Å/pixel]; needed with ``value`` and with an ``old_unit`` other than pixels.
    old_name, old_value, old_unit : optional
        The deprecated spelling, its value and its unit: ``"pixel"`` or a length unit of
        :data:`ANGSTROM_PER_UNIT` (``"nm"``).
    default : float or None
        The length [pixels] when neither keyword is given.
    depth : int
        Calls between the public function and this one (the warning points at the
        public function's caller).

    Returns
    -------
    float or None
        The length [pixels]: ``value / sampling``, ``old_value`` (pixels) or
        ``old_value · Å per old unit / sampling``; ``default`` when neither is given.

    Raises
    ------
    TemnnError
        Both spellings given, a length that is not a finite number ≥ 0, or a length in Å (or
        nm) without ``sampling``.

    Warns
    -----
    DeprecationWarning
        When the old spelling is used.

    Examples
    --------
    >>> length_in_pixels("find_peaks", name="min_spacing", value=1.5, sampling=0.1)
    15.0
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old = length_in_pixels("track", name="min_spacing", value=None, sampling=0.5,
    ...                            old_name="min_separation", old_value=1.0, old_unit="nm")
    >>> old, caught[0].category.__name__
    (20.0, 'DeprecationWarning')
    """
    if old_value is not None:
        if value is not None:
            raise TemnnError(f"{where}: give {name} [Å] or the deprecated {old_name} [{old_unit}], not both")
        warnings.warn(f"{where}: {old_name}= [{old_unit}] is deprecated and will be removed; give {name}= in Å "
                      "with sampling= in Å/pixel", DeprecationWarning, stacklevel=3 + depth)
        length = _length(old_value, name=str(old_name), unit=old_unit)
        if old_unit == "pixel":
            return length
        value, name, unit = length * ANGSTROM_PER_UNIT[old_unit], str(old_name), old_unit
    elif value is None:
        return default
    else:
        value, unit = _length(value, name=name, unit="Å"), "Å"
    if sampling is None:
        raise TemnnError(f"{where}: {name} is a length in {unit}; give the pixel size sampling= in Å/pixel with it")
    return value / positive_sampling(sampling)


def _length(value: object, *, name: str, unit: str) -> float:
    """``value`` as a float, checked to be a finite length ≥ 0."""
    try:
        length = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        length = float("nan")
    if not (math.isfinite(length) and length >= 0):
        raise TemnnError(f"{name}: expected a distance ≥ 0 in {unit}, got {value!r}")
    return length
