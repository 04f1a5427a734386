"""Checks and conversions of the arrays that the analysis functions accept."""

from __future__ import annotations

import numpy as np

from ..errors import TemnnError

__all__ = ["complex_wave", "class_maps"]


def complex_wave(wave: np.ndarray, *, name: str = "wave") -> np.ndarray:
    """An exit wave as a complex (nx, ny) array.

    Parameters
    ----------
    wave
        Complex (nx, ny) array, or a real (2, nx, ny) array holding the real and
        imaginary parts (the Exitwave label and the network output) [dimensionless,
        vacuum = 1].
    name
        How the error message names the input.

    Returns
    -------
    np.ndarray
        Complex128 (nx, ny) array.
    """
    wave = np.asarray(wave)
    if np.iscomplexobj(wave) and wave.ndim == 2:
        return wave.astype(np.complex128, copy=False)
    if not np.iscomplexobj(wave) and wave.ndim == 3 and wave.shape[0] == 2:
        return wave[0].astype(np.float64) + 1j * wave[1].astype(np.float64)
    raise TemnnError(
        f"{name}: expected a complex (nx, ny) exit wave or a real (2, nx, ny) array of "
        f"(real, imaginary) parts, got {wave.dtype} array of shape {wave.shape}"
    )


def class_maps(maps: np.ndarray, *, name: str = "prediction") -> np.ndarray:
    """Class maps as a float (K, nx, ny) array; a single (nx, ny) map becomes K = 1.

    Parameters
    ----------
    maps
        (nx, ny) or (K, nx, ny) probability maps or binary labels.
    name
        How the error message names the input.
    """
    maps = np.asarray(maps)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or np.iscomplexobj(maps):
        raise TemnnError(
            f"{name}: expected a real (nx, ny) map or (K, nx, ny) class maps, "
            f"got {maps.dtype} array of shape {maps.shape}"
        )
    return maps
