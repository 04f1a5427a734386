"""Checks of user-given numbers and arrays shared by every part: one message per kind of bad input."""

from __future__ import annotations

import numpy as np

from .errors import TemnnError

__all__ = ["positive_sampling", "real_finite", "finite_threshold"]


def positive_sampling(sampling: float, *, name: str = "sampling") -> float:
    """Check that a sampling [Å/pixel] is a positive finite number and return it as float."""
    try:
        value = float(sampling)
    except (TypeError, ValueError):
        raise TemnnError(f"{name}: expected a positive number in Å/pixel, got {sampling!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise TemnnError(f"{name}: expected a positive number in Å/pixel, got {sampling!r}")
    return value


def real_finite(array: np.ndarray, *, name: str) -> np.ndarray:
    """Check that an array holds finite real numbers (or booleans) and return it as an array.

    Parameters
    ----------
    array
        Probability maps, masks or image intensities.
    name
        How the error message names the input (file and frame, or argument).
    """
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TemnnError(f"{name}: expected an array of real numbers, got {array.dtype} values")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise TemnnError(
            f"{name}: holds NaN or infinite values ({int(np.isnan(array).sum())} NaN, {int(np.isinf(array).sum())} "
            f"inf of {array.size} values); every value must be a finite number"
        )
    return array


def finite_threshold(threshold: float, *, name: str = "threshold") -> float:
    """Check that a threshold is a finite number (a probability, 0-1, for maps) and return it as float."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise TemnnError(f"{name}: expected a finite number (a probability in [0, 1] for maps), got {threshold!r}")
    return value
