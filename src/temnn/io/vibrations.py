"""Vibrational-amplitudes files: :class:`~temnn.structures.vibrations.VibrationalAmplitudes` as JSON.

Format::

    {"cutoff_factor": 1.2,
     "groups": [{"element": "S", "coordination": 3, "sigma": [sx, sy, sz], "stderr": [...], "atoms": n}, …],
     "edges": null | {"element": "S", "coordination": 2, "toward": "Mo", "sigma": [...], …}}

Amplitudes σ in Å.
"""

from __future__ import annotations

import os

from ..structures.vibrations import VibrationalAmplitudes
from .files import read_json, write_json

__all__ = ["write_amplitudes", "read_amplitudes"]


def write_amplitudes(path: str | os.PathLike, amplitudes: VibrationalAmplitudes) -> None:
    """Write vibrational amplitudes [Å] as JSON (atomically).

    Parameters
    ----------
    path : path
        Output ``.json`` file.
    amplitudes : VibrationalAmplitudes
        What :func:`temnn.structures.vibrations.vibrational_amplitudes` measured.
    """
    write_json(path, amplitudes.to_dict())


def read_amplitudes(path: str | os.PathLike) -> VibrationalAmplitudes:
    """Read amplitudes written by :func:`write_amplitudes`.

    Raises
    ------
    TemnnError
        Missing file, bad JSON, or content that is no amplitudes table (the message names ``path``).
    """
    return VibrationalAmplitudes.from_dict(read_json(path), source=str(path))
