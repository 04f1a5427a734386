"""Frozen phonons: exit waves averaged over randomly displaced copies of a structure.

Thesis chapter 5 and publication I eq. 1. The displacements come from
:func:`temnn.structures.vibrations.perturb_atoms` (amplitudes per element and coordination,
edge atoms in their local frame); each copy goes through the multislice of
:func:`temnn.simulate.waves.exit_wave`. Amplitudes files are read by
:func:`temnn.io.vibrations.read_amplitudes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import TemnnError
from ..structures.vibrations import VibrationalAmplitudes, perturb_atoms
from .waves import ExitWave, WaveSettings, exit_wave

__all__ = ["frozen_phonon_wave", "FrozenPhonons"]


def frozen_phonon_wave(
    atoms: Atoms,
    amplitudes: VibrationalAmplitudes,
    n: int,
    settings: WaveSettings | None = None,
    rng: np.random.Generator | None = None,
    *,
    scale: float = 1.0,
) -> ExitWave:
    """Exit wave averaged over ``n`` frozen-phonon configurations.

    Parameters
    ----------
    atoms : ase.Atoms
        The static structure (orthogonal cell, beam along z).
    amplitudes : VibrationalAmplitudes
        Amplitudes per element and coordination (and edges) [Å].
    n : int
        Number of configurations.
    settings : WaveSettings, optional
        Multislice settings (temnn's defaults when None). Leave ``debye_waller``
        unset: the configurations already model the vibrations.
    rng : numpy.random.Generator, optional
        Source of the displacements (a fresh default generator when None).
    scale : float
        Factor on every amplitude [1].

    Returns
    -------
    ExitWave
        The mean of the configurations' complex exit waves: the coherent part of
        the wave, whose intensity lacks the thermal diffuse background (small for
        thin 2D samples).

    Notes
    -----
    A loop over :func:`temnn.simulate.waves.exit_wave` rather than
    ``abtem.FrozenPhonons``: abTEM 1.0 takes per-atom σ along Cartesian axes, but
    not the edge atoms' rotated frames, and the loop keeps temnn's deterministic
    FFT planning and per-sample random streams. The mean of the displaced copies of
    one atom's wave is its static wave convolved with the displacement Gaussian,
    so an isolated column's width grows as σ² → σ² + ⟨u²⟩.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise TemnnError(f"frozen phonons: the number of configurations must be a positive integer, got {n!r}")
    rng = rng if rng is not None else np.random.default_rng()
    total = None
    wave = None
    for _ in range(int(n)):
        wave = exit_wave(perturb_atoms(atoms, amplitudes, rng, scale=scale), settings)
        total = wave.array.astype(np.complex128) if total is None else total + wave.array
    assert wave is not None and total is not None
    return ExitWave(array=(total / n).astype(np.complex64), sampling=wave.sampling, energy=wave.energy)


@dataclass(frozen=True)
class FrozenPhonons:
    """A picklable exit-wave hook for the structures stage: ``hook(atoms, settings, rng) -> ExitWave``.

    Replaces ``exit_wave(atoms, settings)`` by :func:`frozen_phonon_wave` with
    these amplitudes, so that a data-set generator can offer
    ``--frozen-phonons N --amplitudes FILE``.

    Attributes
    ----------
    amplitudes : VibrationalAmplitudes
        Amplitudes per element and coordination (and edges) [Å].
    configurations : int
        Configurations averaged per exit wave.
    scale : float
        Factor on every amplitude [1].

    Examples
    --------
    >>> hook = FrozenPhonons(VibrationalAmplitudes.isotropic({"Au": 0.05}), configurations=4)
    >>> hook.configurations
    4
    """

    amplitudes: VibrationalAmplitudes
    configurations: int
    scale: float = 1.0

    def __call__(self, atoms: Atoms, settings: WaveSettings | None, rng: np.random.Generator) -> ExitWave:
        """The frozen-phonon exit wave of ``atoms`` (see :func:`frozen_phonon_wave`)."""
        return frozen_phonon_wave(atoms, self.amplitudes, self.configurations, settings, rng, scale=self.scale)
