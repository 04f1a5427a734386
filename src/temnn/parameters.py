"""The parameters file: microscope ranges, label and image settings (thesis table 3.2).

A parameters file is a JSON object. Every microscope parameter is a ``[low, high]``
range from which each image draws its own value: uniformly, except the dose,
which is drawn log-uniformly from ``log_dose``. :class:`Parameters` validates a
file completely and reports every problem at once, naming the field and the
expected form.

Thesis-style files (listing A.1 of the thesis, with keys ``mtf_c1``, ``mtf_c2``,
``mtf_c3``) are read through :data:`THESIS_KEY_MAP`: ``c1 → mtf_c0`` (the width of the
MTF core), ``c2 → mtf_floor`` (C) and ``c3 → mtf_c3``.

The thesis contradicts itself here. Table 3.2 states ``c1 ≡ C, c2 ≡ c0``; read that way,
listing A.1 as printed (``mtf_c1 = (0.2, 0.6)``, ``mtf_c2 = (0, 0)``) gives c0 = 0, a
flat MTF at the floor, which contradicts every fitted value in the thesis: publication II
fits c0 = 0.20-0.28 and C = 0.01-0.5 from vacuum frames (figs. A.12, A.13), and
publication III's table 1 draws c0 from 0.25-0.6. The mapping used here, the reverse of
table 3.2, makes listing A.1 physical: c0 in 0.2-0.6 of Nyquist, C = 0.

Examples
--------
>>> from temnn import Parameters
>>> p = Parameters(label="Disk", image_size=(128, 128), sampling=(0.10, 0.11))
>>> p.input_channels
1
>>> Parameters.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .aberrations import ABERRATION_KEYS, ABERRATIONS
from .errors import TemnnError

__all__ = ["Parameters", "THESIS_KEY_MAP", "LABELS", "ABERRATIONS", "FIELD_UNITS"]

Range = tuple[float, float]

LABELS = ("Mask", "Disk", "Gaussian", "Exitwave")
"""Label types: which task a network learns (DESIGN.md, 'Labels and tasks')."""


THESIS_KEY_MAP = {"mtf_c1": "mtf_c0", "mtf_c2": "mtf_floor", "mtf_c3": "mtf_c3"}
"""Thesis listing A.1 key → temnn key (c1 → c0, c2 → C, c3 → c3: the reading that makes
listing A.1 physical; thesis table 3.2 states the reverse, see the module docstring)."""

_TWO_PI = 2 * math.pi


def _rng(lo: float, hi: float) -> Range:
    return (float(lo), float(hi))


# Units and meaning of each field, used in docs and in error messages.
_UNITS: dict[str, str] = {
    "label": f"one of {', '.join(LABELS)}",
    "image_epochs": "a positive integer (images per exit wave in training sets)",
    "image_size": "a (rows, columns) pair of positive integers in pixels",
    "noise": '"poisson" or null',
    "num_classes": "a positive integer (output channels, background included)",
    "null_class": "true or false",
    "spotsize": "a positive number in Å",
    "sampling": "a (low, high) pair in Å/pixel",
    "multifocus": "null or (number of images, defocus step in Å, step jitter in Å)",
    "log_dose": "a (low, high) pair of log10(dose / (e⁻/Å²))",
    "blur": "a (low, high) pair in Å",
    "focal_spread": "a (low, high) pair in Å",
    "angular_spread": "a (low, high) pair in mrad",
    "aperture": "null or a positive objective-aperture semi-angle in mrad",
    "defocus": "a (low, high) pair in Å (defocus = -C10)",
    "mtf": '"parametric" or null',
    "mtf_c0": "a (low, high) pair, fraction of Nyquist, ≥ 0 (0: a flat MTF at the floor C)",
    "mtf_c3": "a (low, high) pair, positive exponent",
    "mtf_floor": "a (low, high) pair in [0, 1] (C of the MTF)",
    "readout": "null or a (low, high) pair in electrons per pixel (N0)",
    "normalizedistance": "a positive number in Å",
    "exitwave_filter": "a non-negative number in Å (Gaussian σ on the Exitwave label)",
    "exitwave_without_support": "true or false",
    "debug": "a non-negative integer (number of debug PNGs), or true for all",
    "seed": "a non-negative integer",
}
for _a in ABERRATIONS:
    _UNITS[f"ctf_{_a.lower()}"] = f"a (low, high) pair in Å ({_a})"
    if _a[2] != "0":
        _UNITS[f"ctf_phi{_a[1:].lower()}"] = f"a (low, high) pair in radians (angle of {_a})"

FIELD_UNITS: Mapping[str, str] = _UNITS
"""Expected form and unit of every field (for forms and help texts), e.g. ``"a (low, high) pair in Å"``."""

_REQUIRED = ("label", "image_size", "sampling")


@dataclass(frozen=True)
class Parameters:
    """Validated parameters file (thesis table 3.2 and listing A.1).

    Defaults follow publication III, table 1 (MoS2 at 50 keV, Disk labels) except
    the three required fields ``label``, ``image_size`` and ``sampling``.

    Parameters
    ----------
    label
        ``"Mask"``, ``"Disk"``, ``"Gaussian"`` or ``"Exitwave"``; sets task, loss and output.
    image_size
        (rows, columns) of every image [pixels]. The wave is cropped or zero-padded.
    sampling
        Range of the image sampling [Å/pixel].
    image_epochs
        Images per exit wave in training sets (test sets use 1).
    noise
        ``"poisson"`` for shot noise, ``None`` for noise-free images.
    num_classes
        Output channels for Mask/Disk/Gaussian, background included when ``null_class``.
    null_class
        Add a background channel (1 minus the sum of the others, clipped to [0, 1]).
    spotsize
        Disc diameter (Disk) or Gaussian width (Gaussian) at each site [Å].
    multifocus
        ``None`` for single images, or ``(n, step, jitter)``: n images whose defocus
        differs by ``step ± jitter`` [Å], all inside ``defocus``.
    log_dose
        Range of log10 of the dose [e⁻/Å²], drawn uniformly (the dose log-uniformly).
    blur
        Range of the Gaussian blur σ [Å].
    focal_spread
        Range of the focal spread (temporal coherence) [Å].
    angular_spread
        Range of the beam convergence semi-angle (spatial coherence) [mrad].
    aperture
        Objective aperture semi-angle [mrad], ``None`` for no aperture.
    defocus
        Range of the defocus Δf = -C10 [Å].
    ctf_c12, ctf_c21, ctf_c23, ctf_c30, ctf_c32, ctf_c34, ctf_c45
        Ranges of the polar aberration magnitudes [Å]; ``ctf_c30`` is Cs.
    ctf_phi12, ctf_phi21, ctf_phi23, ctf_phi32, ctf_phi34, ctf_phi45
        Ranges of the aberration angles [rad].
    mtf
        ``"parametric"`` for the detector MTF (1-C)/(1+(q/(c0 q_N))^c3)+C, ``None`` for none.
    mtf_c0, mtf_c3, mtf_floor
        Ranges of c0 [fraction of Nyquist], c3 [1] and C [1].
    readout
        Range of the readout noise N0 [electrons/pixel], ``None`` for none.
    normalizedistance
        Width of the local-standardisation Gaussian [Å] (thesis eq. 3.1).
    exitwave_filter
        σ of a Gaussian applied to Exitwave labels [Å] (publication I: 0.15 Å).
    exitwave_without_support
        Exitwave label from the wave of the object without its support, when stored.
    debug
        Number of image + label PNGs to write for inspection (-1 for all).
    seed
        Seed of the per-image random draws.
    """

    label: str
    image_size: tuple[int, int]
    sampling: Range
    image_epochs: int = 10
    noise: str | None = "poisson"
    num_classes: int = 4
    null_class: bool = True
    spotsize: float = 0.4
    multifocus: tuple[int, float, float] | None = None
    log_dose: Range = (2.5, 5.0)
    blur: Range = (0.05, 0.25)
    focal_spread: Range = (5.0, 20.0)
    angular_spread: Range = (0.0, 0.0)
    aperture: float | None = None
    defocus: Range = (-150.0, 50.0)
    ctf_c12: Range = (0.0, 0.0)
    ctf_c21: Range = (0.0, 0.0)
    ctf_c23: Range = (0.0, 0.0)
    ctf_c30: Range = (-15e4, 15e4)
    ctf_c32: Range = (0.0, 0.0)
    ctf_c34: Range = (0.0, 0.0)
    ctf_c45: Range = (0.0, 0.0)
    ctf_phi12: Range = (0.0, _TWO_PI)
    ctf_phi21: Range = (0.0, _TWO_PI)
    ctf_phi23: Range = (0.0, _TWO_PI)
    ctf_phi32: Range = (0.0, _TWO_PI)
    ctf_phi34: Range = (0.0, _TWO_PI)
    ctf_phi45: Range = (0.0, _TWO_PI)
    mtf: str | None = "parametric"
    mtf_c0: Range = (0.25, 0.6)
    mtf_c3: Range = (2.0, 5.0)
    mtf_floor: Range = (0.0, 0.0)
    readout: Range | None = (0.005, 0.015)
    normalizedistance: float = 12.0
    exitwave_filter: float = 0.0
    exitwave_without_support: bool = False
    debug: int = 0
    seed: int = 0
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        errors: list[str] = []
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "source"}
        clean = {name: _check(name, value, errors) for name, value in values.items()}
        if not errors:
            _check_consistency(clean, errors)
        if errors:
            raise TemnnError(_format_errors(self.source, errors))
        for name, value in clean.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ derived
    @property
    def input_channels(self) -> int:
        """Images per sample: the focal-series length (1 without ``multifocus``)."""
        return 1 if self.multifocus is None else int(self.multifocus[0])

    @property
    def output_channels(self) -> int:
        """Channels of the label and of the network output."""
        return 2 if self.label == "Exitwave" else self.num_classes

    @property
    def dose_range(self) -> Range:
        """Dose range [e⁻/Å²] from ``log_dose``."""
        return (10.0 ** self.log_dose[0], 10.0 ** self.log_dose[1])

    # --------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists); :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> "Parameters":
        """Build from a mapping, translating thesis keys and rejecting unknown ones.

        Parameters
        ----------
        data
            Parsed parameters file.
        source
            Where ``data`` came from, for error messages (a file name).
        """
        if not isinstance(data, Mapping):
            raise TemnnError(_format_errors(source, [f"the file must hold a JSON object, got {type(data).__name__}"]))
        data = dict(data)
        errors: list[str] = []
        if "mtf_c1" in data or "mtf_c2" in data:
            for thesis_key, key in THESIS_KEY_MAP.items():
                if thesis_key in data:
                    value = data.pop(thesis_key)
                    if key in data and thesis_key != key:
                        errors.append(f"'{thesis_key}' (thesis name of '{key}') and '{key}' are both given")
                    data[key] = value
        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        for key in sorted(set(data) - known):
            hint = _close_match(key, known)
            errors.append(f"unknown field '{key}'" + (f" (did you mean '{hint}'?)" if hint else ""))
        for key in _REQUIRED:
            if key not in data:
                errors.append(f"'{key}' is missing: expected {_UNITS[key]}")
        if errors:
            raise TemnnError(_format_errors(source, errors))
        return cls(**data, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Parameters":
        """Read and validate a parameters JSON file (temnn or thesis keys)."""
        from .io.files import read_json  # the one file the base reads: lazily, so base imports no io

        return cls.from_dict(read_json(path), source=str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters as JSON (atomically)."""
        from .io.files import write_json

        write_json(Path(path), self.to_dict())

    def replace(self, **changes: Any) -> "Parameters":
        """Copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------- checks
# One small checker per kind of field; each returns the cleaned value or appends a message.
def _bad(name: str, value: Any, errors: list[str]) -> Any:
    errors.append(f"'{name}' must be {_UNITS[name]}, got {value!r}")
    return value


def _choice(name: str, value: Any, errors: list[str], *, choices: tuple[str, ...]) -> Any:
    """One of ``choices``, any case; returns its canonical spelling."""
    for choice in choices if isinstance(value, str) else ():
        if value.lower() == choice.lower():
            return choice
    return _bad(name, value, errors)


def _option(name: str, value: Any, errors: list[str], *, allowed: str) -> Any:
    """``allowed`` (any case), or None / "none" / "null" for off."""
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        return None
    if isinstance(value, str) and value.lower() == allowed:
        return allowed
    return _bad(name, value, errors)


def _flag(name: str, value: Any, errors: list[str]) -> Any:
    return value if isinstance(value, bool) else _bad(name, value, errors)


def _integer(name: str, value: Any, errors: list[str], *, low: int) -> Any:
    return int(value) if _is_int(value) and value >= low else _bad(name, value, errors)


def _debug(name: str, value: Any, errors: list[str]) -> Any:
    """True → -1 (all), None/False → 0, else an integer ≥ -1."""
    if value is True:
        return -1
    if value is None or value is False:
        return 0
    return _integer(name, value, errors, low=-1)


def _size(name: str, value: Any, errors: list[str]) -> Any:
    if _is_pair(value) and all(_is_int(v) and v > 0 for v in value):
        return (int(value[0]), int(value[1]))
    return _bad(name, value, errors)


def _number(name: str, value: Any, errors: list[str], *, low: float, strict: bool = False,
            optional: bool = False) -> Any:
    """A number above ``low`` (``strict``) or at least ``low``; None allowed when ``optional``."""
    if optional and value is None:
        return None
    if _is_number(value) and (value > low if strict else value >= low):
        return float(value)
    return _bad(name, value, errors)


def _multifocus(name: str, value: Any, errors: list[str]) -> Any:
    """None, or (images ≥ 1, defocus step [Å], step jitter ≥ 0 [Å])."""
    if value is None:
        return None
    if (isinstance(value, (list, tuple)) and len(value) == 3 and _is_int(value[0]) and value[0] >= 1
            and _is_number(value[1]) and _is_number(value[2]) and value[2] >= 0):
        return (int(value[0]), float(value[1]), float(value[2]))
    return _bad(name, value, errors)


def _range(name: str, value: Any, errors: list[str], *, low: float | None = None, strict: bool = False,
           high: float | None = None, optional: bool = False, note: str | None = None) -> Any:
    """A (low, high) pair, low first; its low end above ``low`` (``strict``) or at least ``low``, or
    both ends within [``low``, ``high``]; ``note`` replaces the usual reason in the message."""
    if optional and value is None:
        return None
    if not (_is_pair(value) and all(_is_number(v) for v in value)):
        return _bad(name, value, errors)
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        errors.append(f"'{name}' is a reversed range [{lo:g}, {hi:g}]: the low value comes first")
        return value
    if low is not None and high is not None:
        if not (low <= lo and hi <= high):
            errors.append(f"'{name}' must be {_UNITS[name]}, got [{lo:g}, {hi:g}]")
    elif low is not None and (lo <= low if strict else lo < low):
        reason = note or f"values must be {'>' if strict else '≥'} {low:g}, got [{lo:g}, {hi:g}]"
        errors.append(f"'{name}' must be {_UNITS[name]}; {reason}")
    return _rng(lo, hi)


_MAGNITUDE = {"low": 0.0, "note": "magnitudes are ≥ 0 (the angle sets the direction)"}
_RULES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "label": (_choice, {"choices": LABELS}),
    "image_epochs": (_integer, {"low": 1}),
    "image_size": (_size, {}),
    "noise": (_option, {"allowed": "poisson"}),
    "num_classes": (_integer, {"low": 1}),
    "null_class": (_flag, {}),
    "spotsize": (_number, {"low": 0.0, "strict": True}),
    "sampling": (_range, {"low": 0.0, "strict": True}),
    "multifocus": (_multifocus, {}),
    "log_dose": (_range, {}),
    "blur": (_range, {"low": 0.0}),
    "focal_spread": (_range, {"low": 0.0}),
    "angular_spread": (_range, {"low": 0.0}),
    "aperture": (_number, {"low": 0.0, "strict": True, "optional": True}),
    "defocus": (_range, {}),
    **{f"ctf_{key.lower()}": (_range, _MAGNITUDE if key in ABERRATIONS and key != "C30" else {})
       for key in ABERRATION_KEYS},
    "mtf": (_option, {"allowed": "parametric"}),
    "mtf_c0": (_range, {"low": 0.0}),
    "mtf_c3": (_range, {"low": 0.0, "strict": True}),
    "mtf_floor": (_range, {"low": 0.0, "high": 1.0}),
    "readout": (_range, {"low": 0.0, "optional": True}),
    "normalizedistance": (_number, {"low": 0.0, "strict": True}),
    "exitwave_filter": (_number, {"low": 0.0}),
    "exitwave_without_support": (_flag, {}),
    "debug": (_debug, {}),
    "seed": (_integer, {"low": 0}),
}
"""Field → (checker, its options): the parameter schema; :data:`FIELD_UNITS` gives each field's text."""


def _check(name: str, value: Any, errors: list[str]) -> Any:
    checker, options = _RULES[name]
    return checker(name, value, errors, **options)


def _check_consistency(p: dict[str, Any], errors: list[str]) -> None:
    if p["label"] == "Exitwave" and p["num_classes"] != 2:
        # The Exitwave label always has two channels (real, imaginary).
        p["num_classes"] = 2
    if p["label"] == "Mask" and p["num_classes"] not in (1, 2):
        errors.append(f"'num_classes' must be 1 (or 2 with null_class) for a Mask label, got {p['num_classes']}")
    if p["label"] == "Mask" and p["num_classes"] == 2 and not p["null_class"]:
        errors.append("'num_classes' = 2 for a Mask label needs 'null_class': true (particle + background)")
    if p["label"] in ("Disk", "Gaussian") and p["null_class"] and p["num_classes"] < 2:
        errors.append("'num_classes' must be ≥ 2 with 'null_class': true (classes + background)")
    if p["multifocus"] is not None:
        n, step, jitter = p["multifocus"]
        span = (n - 1) * (abs(step) + jitter)
        width = p["defocus"][1] - p["defocus"][0]
        if span > width:
            errors.append(
                f"'multifocus' {list(p['multifocus'])} spans up to {span:g} Å of defocus, "
                f"more than the 'defocus' range [{p['defocus'][0]:g}, {p['defocus'][1]:g}] allows ({width:g} Å)"
            )


def _format_errors(source: str | None, errors: list[str]) -> str:
    where = source or "parameters"
    if len(errors) == 1:
        return f"{where}: {errors[0]}"
    return f"{where}: {len(errors)} problems:\n" + "\n".join(f"  - {e}" for e in errors)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_pair(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2


def _close_match(key: str, known: set[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
    return match[0] if match else None
