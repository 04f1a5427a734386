"""Frozen phonons: the exit waves of randomly displaced copies of a structure (images average their intensities).

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

from .._random import keyword_rng
from ..errors import TemnnError
from ..structures.vibrations import VibrationalAmplitudes, perturb_atoms
from .waves import ExitWave, WaveSettings, exit_wave

__all__ = ["frozen_phonon_wave", "FrozenPhonons"]


@keyword_rng(4)
def frozen_phonon_wave(
    atoms: Atoms,
    amplitudes: VibrationalAmplitudes,
    n: int,
    settings: WaveSettings | None = None,
    *,
    rng: np.random.Generator | None = None,
    scale: float = 1.0,
) -> ExitWave:
    """Exit waves of ``n`` frozen-phonon configurations of ``atoms``.

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
        complex64 (n, nx, ny), one wave per configuration, for n ≥ 2; the single
        configuration's (nx, ny) wave for n = 1. Images average the intensities of
        the configurations after the CTF (thesis ch. 5: an exposure averages many
        snapshots incoherently), which keeps the thermal diffuse scattering that the
        mean wave (:meth:`ExitWave.coherent`) lacks; the mean wave is the Exitwave label.

    Notes
    -----
    A loop over :func:`temnn.simulate.waves.exit_wave` rather than
    ``abtem.FrozenPhonons``: abTEM 1.0 takes per-atom σ along Cartesian axes, but
    not the edge atoms' rotated frames, and the loop keeps temnn's deterministic
    FFT planning and per-sample random streams. The mean of the displaced copies of
    one atom's wave is its static wave convolved with the displacement Gaussian,
    so the coherent wave's isolated column width grows as σ² → σ² + ⟨u²⟩.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise TemnnError(f"frozen phonons: the number of configurations must be a positive integer, got {n!r}")
    rng = rng if rng is not None else np.random.default_rng()
    waves = [exit_wave(perturb_atoms(atoms, amplitudes, rng=rng, scale=scale), settings) for _ in range(int(n))]
    if n == 1:
        return waves[0]
    array = np.stack([wave.array for wave in waves]).astype(np.complex64, copy=False)
    return ExitWave(array=array, sampling=waves[0].sampling, energy=waves[0].energy)


@dataclass(frozen=True)
class FrozenPhonons:
    """A picklable exit-wave hook for the structures stage: ``hook(atoms, settings, rng) -> ExitWave``.

    Replaces ``exit_wave(atoms, settings)`` by :func:`frozen_phonon_wave` (one wave
    per configuration, stored as a (K, nx, ny) array) with
    these amplitudes, so that a data-set generator can offer
    ``--frozen-phonons N --amplitudes FILE``.

    Attributes
    ----------
    amplitudes : VibrationalAmplitudes
        Amplitudes per element and coordination (and edges) [Å].
    configurations : int
        Configurations per sample; images average their intensities.
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

    def __call__(self, atoms: Atoms, settings: WaveSettings | None, *, rng: np.random.Generator) -> ExitWave:
        """The frozen-phonon exit waves of ``atoms`` (see :func:`frozen_phonon_wave`)."""
        return frozen_phonon_wave(atoms, self.amplitudes, self.configurations, settings, rng=rng, scale=self.scale)
