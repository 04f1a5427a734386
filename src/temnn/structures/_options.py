"""Validation of the keyword options shared by the structure builders.

Every builder option that a user (or the ``temnn structures`` command) sets goes
through these checks, so a bad value raises :class:`temnn.TemnnError` naming the
option, the expected form with its unit, and what was given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import TemnnError

Range = tuple[float, float]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value)


def as_cell(cell: Any, name: str = "cell") -> tuple[float, float]:
    """Lateral cell size ``(x, y)`` [Å] from a number (square cell) or a pair of numbers."""
    values = (cell, cell) if _is_number(cell) else cell
    if (
        isinstance(values, (list, tuple, np.ndarray))
        and len(values) == 2
        and all(_is_number(v) and v > 0 for v in values)
    ):
        return (float(values[0]), float(values[1]))
    raise TemnnError(f"'{name}' must be the lateral cell size (x, y) in Å, two positive numbers, got {cell!r}")


def as_range(
    value: Any,
    name: str,
    unit: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Range:
    """A ``(low, high)`` range from a number (fixed value) or a pair, checked against bounds.

    Parameters
    ----------
    value
        A number or a ``(low, high)`` pair.
    name
        Option name used in the error message.
    unit
        Unit or meaning of the values, used in the error message (e.g. ``"Å"``).
    minimum, maximum
        Allowed bounds (inclusive), ``None`` for unbounded.
    """
    bounds = ""
    if minimum is not None and maximum is not None:
        bounds = f" within [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        bounds = f" ≥ {minimum:g}"
    expected = f"'{name}' must be a number or a (low, high) pair in {unit}{bounds}"
    pair = (value, value) if _is_number(value) else value
    if not (isinstance(pair, (list, tuple, np.ndarray)) and len(pair) == 2 and all(_is_number(v) for v in pair)):
        raise TemnnError(f"{expected}, got {value!r}")
    low, high = float(pair[0]), float(pair[1])
    if low > high:
        raise TemnnError(f"'{name}' is a reversed range ({low:g}, {high:g}): put the low value first")
    if (minimum is not None and low < minimum) or (maximum is not None and high > maximum):
        raise TemnnError(f"{expected}, got {value!r}")
    return (low, high)


def as_int_range(value: Any, name: str, unit: str, *, minimum: int) -> tuple[int, int]:
    """An inclusive integer ``(low, high)`` range from an integer or a pair of integers."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    ok = (
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    )
    if not ok or pair[0] < minimum or pair[0] > pair[1]:
        raise TemnnError(
            f"'{name}' must be an integer or an inclusive (low, high) pair of integers ≥ {minimum} ({unit}), "
            f"low first, got {value!r}"
        )
    return (int(pair[0]), int(pair[1]))


def as_nonnegative(value: Any, name: str, unit: str) -> float:
    """A single number ≥ 0."""
    if not (_is_number(value) and value >= 0):
        raise TemnnError(f"'{name}' must be a number ≥ 0 in {unit}, got {value!r}")
    return float(value)


def as_positive(value: Any, name: str, unit: str) -> float:
    """A single number > 0."""
    if not (_is_number(value) and value > 0):
        raise TemnnError(f"'{name}' must be a number > 0 in {unit}, got {value!r}")
    return float(value)


def as_tilt(value: Any, name: str = "max_tilt") -> float:
    """Maximum tilt angle [degrees] in [0, 90]."""
    if not (_is_number(value) and 0 <= value <= 90):
        raise TemnnError(f"'{name}' must be a tilt angle in degrees within [0, 90], got {value!r}")
    return float(value)


def draw(rng: np.random.Generator, value: Range) -> float:
    """One uniform draw from ``(low, high)``; a fixed value when low == high.

    The generator is advanced by one draw either way, so a fixed option does not
    shift the random stream of the options drawn after it.
    """
    return float(rng.uniform(value[0], value[1]))
