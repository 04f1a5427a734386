"""The polar aberrations beyond defocus, written once (Krivanek notation, abTEM's names).

:class:`Aberrations` is the one list: :class:`temnn.simulate.optics.CTF` and
:class:`temnn.simulate.draw.MicroscopeParameters` inherit its fields, the parameters file has
one ``ctf_<name>`` range per field (:mod:`temnn.parameters`), and ``temnn reconstruct`` reads
the same names from an image's JSON. The field order is the order in which
:func:`temnn.simulate.draw.draw_microscope` draws them, so it is part of the data sets'
reproducibility: never reorder.

Examples
--------
>>> ABERRATION_KEYS[:4], ABERRATIONS[3]
(('C12', 'phi12', 'C21', 'phi21'), 'C30')
>>> POLAR_TERMS[0], POLAR_TERMS[4]
(('C10', None, 1, 0), ('C30', None, 3, 0))
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Aberrations", "ABERRATION_KEYS", "ABERRATIONS", "POLAR_TERMS"]


@dataclass(frozen=True, kw_only=True)
class Aberrations:
    """Polar aberrations C_nm other than defocus C10, keyword-only fields.

    Parameters
    ----------
    C12, C21, C23, C30, C32, C34, C45 : float
        Magnitudes [Å] (C12: two-fold astigmatism, C21: axial coma, C23: three-fold
        astigmatism, C30 = Cs: spherical aberration, C32, C34, C45).
    phi12, phi21, phi23, phi32, phi34, phi45 : float
        Angles of the non-round aberrations [rad].
    """

    C12: float = 0.0
    phi12: float = 0.0
    C21: float = 0.0
    phi21: float = 0.0
    C23: float = 0.0
    phi23: float = 0.0
    C30: float = 0.0
    C32: float = 0.0
    phi32: float = 0.0
    C34: float = 0.0
    phi34: float = 0.0
    C45: float = 0.0
    phi45: float = 0.0


ABERRATION_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Aberrations))
"""Magnitudes and angles in draw order: C12, phi12, C21, phi21, …, C45, phi45."""

ABERRATIONS: tuple[str, ...] = tuple(key for key in ABERRATION_KEYS if key.startswith("C"))
"""The magnitudes: C12, C21, C23, C30, C32, C34, C45."""

POLAR_TERMS: tuple[tuple[str, str | None, int, int], ...] = (("C10", None, 1, 0),) + tuple(
    (c, f"phi{c[1:]}" if c[2] != "0" else None, int(c[1]), int(c[2])) for c in ABERRATIONS
)
"""(magnitude, angle, n, m) of each polar aberration C_nm, defocus first: χ ∝ α^(n+1)/(n+1) cos(m(φ-φ_nm))."""
