"""Units as files and microscopes write them: lengths to Å, times to seconds.

The one table of unit names for every reader (microscope files, TIFF stacks): a name is
looked up as written, then in lower case.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from .errors import TemnnError

__all__ = ["ANGSTROM_PER_UNIT", "SECONDS_PER_UNIT", "angstrom_per_unit", "unit_factor"]

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
