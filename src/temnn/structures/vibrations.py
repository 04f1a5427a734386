"""Atomic vibrations: Debye-Waller smearing, local-environment and edge frozen phonons.

Thesis chapter 5 and publication I eq. 1. Atoms vibrate much faster than an
exposure, so an image averages many snapshots. Two models:

* **Debye-Waller smearing** (:func:`debye_waller`): every atom's potential is
  convolved with one Gaussian (``WaveSettings.debye_waller``); homogeneous and free.
* **Frozen phonons**: the exit waves of N randomly displaced copies are kept, and
  images average their intensities after the CTF
  (:func:`temnn.simulate.phonons.frozen_phonon_wave`). The *local-environment* variant
  draws each atom's displacement from a Gaussian whose widths depend on its element and
  coordination number, measured on a molecular-dynamics trajectory
  (:func:`vibrational_amplitudes`); low-coordinated edge atoms vibrate more
  (Chen et al.). The *directional edge* variant (:func:`edge_vibrations`) measures
  the edge atoms' amplitudes along and across the edge in a local frame and
  draws them in that frame.

Definitions used throughout:

* **Amplitude** σ: the root-mean-square displacement of an atom about its mean
  position along one direction [Å], so ⟨u²⟩ = σ² per direction; a Gaussian
  displacement with standard deviation σ along each axis reproduces it.
* **Coordination number**: neighbours within the sum of ASE's natural cutoffs
  (covalent radii) times ``cutoff_factor`` (1.2 by default), counted on the
  trajectory's mean structure. In MoS₂ that is 3 Mo for a bulk S and 6 S + 6 Mo
  for a bulk Mo; in Au 12 for the bulk.
* **Edge frame** of an edge atom (thesis fig. 5.3): x along the edge, the principal
  in-plane direction of the displacements to its neighbouring edge atoms; y the
  in-plane normal to it, pointing towards the nearest atom of ``toward`` (the
  metal, e.g. Mo); z the beam direction.

The trajectory must keep the atoms in one order (as MD does). Its frames are
unwrapped across periodic boundaries relative to the first frame, and the
mass-weighted centre of mass is removed from every frame (``remove_drift``); a
rotating cluster is not de-rotated, so run the MD with zero angular momentum
(the thesis' MD was restricted to zero linear and angular momentum).

References
----------
Chen, F.-R., Van Dyck, D., Kisielowski, C., Hansen, L. P., Barton, B. and Helveg, S. (2021). Probing atom
dynamics of excited Co-Mo-S nanocrystals in 3D. *Nature Communications* 12, 5007.
Mannebach, E. M. et al. (2015). *Nano Letters* 15, 6889-6895 (θ_D = 580 K of MoS₂, publication I ref. 33).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
from ase import Atoms
from scipy import constants

from .._random import keyword_rng
from ..errors import TemnnError

__all__ = [
    "DEFAULT_CUTOFF_FACTOR",
    "debye_waller",
    "coordination_numbers",
    "VibrationGroup",
    "EdgeVibrations",
    "VibrationalAmplitudes",
    "read_trajectory",
    "vibrational_amplitudes",
    "edge_atoms",
    "edge_frames",
    "edge_vibrations",
    "perturb_atoms",
]

DEFAULT_CUTOFF_FACTOR = 1.2
"""Multiplier of ASE's natural cutoffs (covalent radii) that defines a neighbour."""

_SAME_COLUMN = 0.5  # [Å] in-plane distance below which two edge atoms share a column (S2 pairs)


def debye_waller(element_or_mass: str | float, debye_temperature: float, temperature: float) -> float:
    """Mean-square displacement ⟨u²⟩ of publication I eq. 1 [Å²].

    ⟨u²⟩ = 3ħ² / (2 m k_B θ_D) · (1/4 + T/θ_D).

    Parameters
    ----------
    element_or_mass : str or float
        Chemical symbol (its standard atomic mass is used) or the mass [u].
    debye_temperature : float
        Debye temperature θ_D [K] (580 K for bulk MoS₂).
    temperature : float
        Temperature T [K].

    Returns
    -------
    float
        ⟨u²⟩ [Å²], the value for ``WaveSettings.debye_waller`` and ``--debye-waller``.

    Notes
    -----
    temnn uses this number as the mean-square displacement along *each* direction:
    σ² of the Gaussian that smears the projected potential along x and along y
    (abTEM's ``sigmas``; U_iso of crystallography, B = 8π²⟨u²⟩), which is how
    publication I applied it. Publication I used the mass of S for all atoms
    (0.0030 Å² for MoS₂ at 300 K). For comparison, the Debye model in the same
    approximation gives a per-direction value 3ħ²/(m k_B θ_D)·(1/4 + T/θ_D), twice
    this, and thesis eq. 5.2 multiplies this by a further 2/3. The MD amplitudes
    of :func:`vibrational_amplitudes` are per direction too (σ² = ⟨u²⟩).

    Examples
    --------
    >>> round(debye_waller("S", 580, 300), 4)
    0.003
    """
    from ase.data import atomic_masses, atomic_numbers

    if isinstance(element_or_mass, str):
        if element_or_mass not in atomic_numbers:
            raise TemnnError(f"debye_waller: unknown element {element_or_mass!r}; give a chemical symbol or a mass in u")
        mass = float(atomic_masses[atomic_numbers[element_or_mass]])
    else:
        mass = float(element_or_mass)
    for name, value, low in (("mass", mass, 0.0), ("debye_temperature", debye_temperature, 0.0)):
        if not (math.isfinite(value) and value > low):
            raise TemnnError(f"debye_waller: '{name}' must be a positive number, got {value!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise TemnnError(f"debye_waller: 'temperature' must be ≥ 0 K, got {temperature!r}")
    m = mass * constants.atomic_mass
    u2 = 3 * constants.hbar**2 / (2 * m * constants.k * debye_temperature) * (0.25 + temperature / debye_temperature)
    return float(u2 * 1e20)


def coordination_numbers(atoms: Atoms, *, cutoff_factor: float = DEFAULT_CUTOFF_FACTOR) -> np.ndarray:
    """Number of neighbours of every atom (natural cutoffs × ``cutoff_factor``).

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (periodic boundaries are honoured).
    cutoff_factor : float
        Multiplier of the covalent radii [1].

    Returns
    -------
    numpy.ndarray, int, shape (N,)

    Examples
    --------
    >>> from ase.cluster import Icosahedron
    >>> sorted(set(coordination_numbers(Icosahedron("Au", 3)).tolist()))
    [6, 8, 12]
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list

    if not cutoff_factor > 0:
        raise TemnnError(f"cutoff_factor must be positive, got {cutoff_factor!r}")
    if len(atoms) == 0:
        return np.zeros(0, dtype=np.int64)
    first = neighbor_list("i", atoms, natural_cutoffs(atoms, mult=cutoff_factor))
    return np.bincount(first, minlength=len(atoms)).astype(np.int64)


@dataclass(frozen=True)
class VibrationGroup:
    """Vibrational amplitudes of one kind of atom.

    Attributes
    ----------
    sigma : tuple of float
        RMS displacement along the three directions [Å] (x, y, z; along, across
        the edge and z for edge atoms).
    stderr : tuple of float
        Standard errors of ``sigma`` [Å].
    atoms : int
        Number of atoms the amplitudes are averaged over.
    """

    sigma: tuple[float, float, float]
    stderr: tuple[float, float, float] = (0.0, 0.0, 0.0)
    atoms: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sigma": list(self.sigma), "stderr": list(self.stderr), "atoms": self.atoms}


@dataclass(frozen=True)
class EdgeVibrations:
    """Amplitudes of edge atoms in their local edge frame (thesis fig. 5.3).

    Attributes
    ----------
    element : str
        Element of the edge atoms (e.g. ``"S"``).
    coordination : int
        Coordination number that marks an edge atom of ``element``.
    toward : str or None
        Element the frame's y axis points to (e.g. ``"Mo"``); ``None``: the nearest
        atom of any other element.
    amplitudes : VibrationGroup
        σ along the edge, across it and along z [Å].
    """

    element: str
    coordination: int
    toward: str | None
    amplitudes: VibrationGroup

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"element": self.element, "coordination": self.coordination, "toward": self.toward,
                **self.amplitudes.to_dict()}


@dataclass(frozen=True)
class VibrationalAmplitudes:
    """Vibrational amplitudes by element and coordination number (local-environment frozen phonons).

    Attributes
    ----------
    groups : mapping
        ``{(element, coordination): VibrationGroup}``.
    cutoff_factor : float
        The neighbour definition the coordination numbers were counted with.
    edges : EdgeVibrations or None
        Directional amplitudes of edge atoms, which then replace their group's.

    Notes
    -----
    An atom whose coordination number was not seen for its element takes the
    amplitudes of the nearest coordination number measured (the lower one on a tie).

    Examples
    --------
    >>> amplitudes = VibrationalAmplitudes.isotropic({"Au": 0.08})
    >>> from ase.cluster import Icosahedron
    >>> amplitudes.sigmas(Icosahedron("Au", 2)).shape
    (13, 3)
    """

    groups: Mapping[tuple[str, int], VibrationGroup]
    cutoff_factor: float = DEFAULT_CUTOFF_FACTOR
    edges: EdgeVibrations | None = None

    @classmethod
    def isotropic(cls, sigmas: Mapping[str, float], *, cutoff_factor: float = DEFAULT_CUTOFF_FACTOR) -> VibrationalAmplitudes:
        """One isotropic amplitude per element, whatever the coordination.

        Parameters
        ----------
        sigmas : mapping
            ``{element: σ}`` [Å]; e.g. ``{"S": math.sqrt(debye_waller("S", 580, 300))}``.
        cutoff_factor : float
            Neighbour definition (irrelevant here, kept in the amplitudes file).
        """
        groups = {}
        for element, sigma in sigmas.items():
            if not (math.isfinite(sigma) and sigma >= 0):
                raise TemnnError(f"amplitude of {element}: expected σ ≥ 0 in Å, got {sigma!r}")
            groups[(element, 0)] = VibrationGroup((float(sigma),) * 3)
        return cls(groups, cutoff_factor)

    def sigmas(self, atoms: Atoms) -> np.ndarray:
        """Amplitudes of every atom from its element and coordination number [Å], shape (N, 3).

        Edge atoms get their group's (x, y, z) amplitudes here; :func:`perturb_atoms`
        draws them in the edge frame when :attr:`edges` is set.
        """
        return self._sigmas(atoms.get_chemical_symbols(), coordination_numbers(atoms, cutoff_factor=self.cutoff_factor))

    def _sigmas(self, symbols: Sequence[str], coordination: np.ndarray) -> np.ndarray:
        """:meth:`sigmas` from the atoms' symbols and coordination numbers."""
        by_element: dict[str, list[int]] = {}
        for element, cn in self.groups:
            by_element.setdefault(element, []).append(cn)
        out = np.zeros((len(symbols), 3))
        for i, (element, cn) in enumerate(zip(symbols, coordination)):
            known = by_element.get(element)
            if known is None:
                raise TemnnError(
                    f"vibrational amplitudes: no amplitudes for element {element} (have {sorted(by_element)}); "
                    "measure them on a trajectory that contains it, or add them with VibrationalAmplitudes.isotropic"
                )
            nearest = min(known, key=lambda k: (abs(k - cn), k))
            out[i] = self.groups[(element, nearest)].sigma
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One table row per group: element, coordination, σ and standard errors [Å], atoms."""
        rows = []
        for (element, cn), group in sorted(self.groups.items()):
            row: dict[str, Any] = {"element": element, "coordination": cn, "atoms": group.atoms}
            for axis, s, e in zip("xyz", group.sigma, group.stderr):
                row[f"sigma_{axis}_angstrom"] = s
                row[f"stderr_{axis}_angstrom"] = e
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what :func:`temnn.io.vibrations.write_amplitudes` writes)."""
        return {
            "cutoff_factor": self.cutoff_factor,
            "groups": [{"element": e, "coordination": cn, **g.to_dict()} for (e, cn), g in sorted(self.groups.items())],
            "edges": None if self.edges is None else self.edges.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "amplitudes") -> VibrationalAmplitudes:
        """Inverse of :meth:`to_dict`; bad content raises :class:`TemnnError` naming ``source``."""
        try:
            groups = {
                (str(g["element"]), int(g["coordination"])): _group(g) for g in data["groups"]
            }
            edges = data.get("edges")
            if edges is not None:
                edges = EdgeVibrations(str(edges["element"]), int(edges["coordination"]), edges.get("toward"),
                                       _group(edges))
            return cls(groups, float(data.get("cutoff_factor", DEFAULT_CUTOFF_FACTOR)), edges)
        except (KeyError, TypeError, ValueError) as err:
            raise TemnnError(
                f"{source}: not a vibrational-amplitudes file ({type(err).__name__}: {err}); expected "
                '{"cutoff_factor": 1.2, "groups": [{"element": "S", "coordination": 3, "sigma": [sx, sy, sz]}, …], '
                '"edges": null}, as written by temnn.io.vibrations.write_amplitudes'
            ) from None


def read_trajectory(trajectory: str | os.PathLike | Sequence[Atoms]) -> list[Atoms]:
    """The frames of a trajectory (any file ASE reads, or a sequence of Atoms).

    Raises
    ------
    TemnnError
        Unreadable file, fewer than two frames, or frames whose atoms differ.
    """
    if isinstance(trajectory, (str, os.PathLike)):
        import ase.io

        try:
            frames = ase.io.read(trajectory, index=":")
        except FileNotFoundError:
            raise TemnnError(f"{trajectory}: file not found") from None
        except Exception as err:  # ASE raises many types for unreadable files
            raise TemnnError(f"{trajectory}: not a trajectory ASE can read ({err})") from None
    else:
        frames = list(trajectory)
    if len(frames) < 2:
        raise TemnnError(f"trajectory: needs at least two frames to measure vibrations, got {len(frames)}")
    numbers = frames[0].numbers
    if any(len(f) != len(numbers) or not np.array_equal(f.numbers, numbers) for f in frames):
        raise TemnnError("trajectory: every frame must hold the same atoms in the same order (an MD trajectory)")
    return frames


def vibrational_amplitudes(
    trajectory: str | os.PathLike | Sequence[Atoms],
    *,
    cutoff_factor: float = DEFAULT_CUTOFF_FACTOR,
    remove_drift: bool = True,
    edge_element: str | None = None,
    toward: str | None = None,
) -> VibrationalAmplitudes:
    """Vibrational amplitudes per element and coordination number from an MD trajectory.

    For every atom the RMS displacement about its mean position is taken along x,
    y and z; atoms are grouped by element and by the coordination number of the
    mean structure, and the group's amplitude is the mean over its atoms (thesis
    table 5.1, ``get_vibrational_amplitudes``).

    Parameters
    ----------
    trajectory : path or sequence of ase.Atoms
        MD frames of one system (atoms in a fixed order).
    cutoff_factor : float
        Neighbour definition [1] (see the module notes).
    remove_drift : bool
        Subtract the mass-weighted centre of mass from every frame.
    edge_element : str, optional
        Also measure directional edge amplitudes of this element (:func:`edge_vibrations`).
    toward : str, optional
        Element the edge frame's y axis points to (default: any other element).

    Returns
    -------
    VibrationalAmplitudes
        Per group the mean σ [Å] and its standard error: the scatter of the atoms'
        σ over √(atoms), but at least the sampling error σ/√(2(frames - 1)·atoms)
        of uncorrelated frames (MD frames are correlated, so that floor is optimistic).
    """
    frames = read_trajectory(trajectory)
    mean, displacement = _displacements(frames, remove_drift)
    coordination = coordination_numbers(mean, cutoff_factor=cutoff_factor)
    sigma = displacement.std(axis=0, ddof=1)  # (N, 3)
    symbols = np.array(mean.get_chemical_symbols())
    groups = {}
    for element in sorted(set(symbols)):
        for cn in sorted(set(coordination[symbols == element].tolist())):
            groups[(str(element), int(cn))] = _summarise(sigma[(symbols == element) & (coordination == cn)], len(frames))
    amplitudes = VibrationalAmplitudes(groups, cutoff_factor)
    if edge_element is not None:
        amplitudes = replace(amplitudes, edges=_edge_vibrations(frames, mean, displacement, edge_element, toward,
                                                                 cutoff_factor))
    return amplitudes


def edge_atoms(atoms: Atoms, element: str, *, coordination: int | None = None,
               cutoff_factor: float = DEFAULT_CUTOFF_FACTOR) -> np.ndarray:
    """Indices of the edge atoms: atoms of ``element`` with the lowest (or the given) coordination.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure.
    element : str
        Element of the edge atoms, e.g. ``"S"``.
    coordination : int, optional
        Coordination number of an edge atom; default: the lowest found for ``element``.
    cutoff_factor : float
        Neighbour definition [1].

    Returns
    -------
    numpy.ndarray, int
    """
    symbols = np.array(atoms.get_chemical_symbols())
    mine = symbols == element
    if not mine.any():
        raise TemnnError(f"edge atoms: the structure has no {element} atoms (it has {sorted(set(symbols))})")
    cn = coordination_numbers(atoms, cutoff_factor=cutoff_factor)
    target = int(cn[mine].min()) if coordination is None else int(coordination)
    return np.flatnonzero(mine & (cn == target))


def edge_frames(atoms: Atoms, indices: np.ndarray, *, toward: str | None = None) -> np.ndarray:
    """Local edge frames of the atoms ``indices`` (see the module notes).

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (periodic boundaries are honoured).
    indices : numpy.ndarray, int
        Edge atoms (e.g. from :func:`edge_atoms`).
    toward : str, optional
        Element the y axis points to; default: the nearest atom of another element.

    Returns
    -------
    numpy.ndarray, shape (n, 3, 3)
        Rotation matrices whose rows are the unit vectors along the edge, across it
        (towards ``toward``) and along z: ``local = R @ global``.
    """
    from ase.geometry import get_distances

    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return np.zeros((0, 3, 3))
    positions = atoms.positions
    edge = positions[indices]
    vectors, _ = get_distances(edge, edge, cell=atoms.cell, pbc=atoms.pbc)  # (n, n, 3), mic
    planar = np.linalg.norm(vectors[..., :2], axis=-1)
    symbols = np.array(atoms.get_chemical_symbols())
    targets = np.flatnonzero(symbols == toward if toward is not None else symbols != symbols[indices[0]])
    if len(targets) == 0 or (toward is None and len(set(symbols[indices])) > 1):
        raise TemnnError(f"edge frames: need edge atoms of one element and {toward or 'another element'} "
                         "to point the y axis to")
    to_targets, target_distances = get_distances(edge, positions[targets], cell=atoms.cell, pbc=atoms.pbc)
    frames = np.zeros((len(indices), 3, 3))
    for k in range(len(indices)):
        inward = to_targets[k, int(np.argmin(target_distances[k])), :2]
        apart = planar[k] > _SAME_COLUMN
        if apart.any():
            near = apart & (planar[k] <= 1.5 * planar[k][apart].min())
            d = vectors[k, near, :2]
            tangent = np.linalg.eigh(d.T @ d)[1][:, -1]  # principal direction of the neighbours
        else:  # a lone edge atom: the edge runs perpendicular to the inward direction
            tangent = np.array([-inward[1], inward[0]])
        tangent = tangent / np.linalg.norm(tangent)
        across = np.array([-tangent[1], tangent[0]])
        if across @ inward < 0:
            across = -across
        frames[k] = [[tangent[0], tangent[1], 0.0], [across[0], across[1], 0.0], [0.0, 0.0, 1.0]]
    return frames


def edge_vibrations(
    trajectory: str | os.PathLike | Sequence[Atoms],
    element: str,
    *,
    toward: str | None = None,
    cutoff_factor: float = DEFAULT_CUTOFF_FACTOR,
    remove_drift: bool = True,
) -> EdgeVibrations:
    """Amplitudes of the edge atoms along and across the edge (thesis ``get_edge_vibrations``).

    Parameters
    ----------
    trajectory : path or sequence of ase.Atoms
        MD frames of one system.
    element : str
        Element of the edge atoms (those of the lowest coordination), e.g. ``"S"``.
    toward : str, optional
        Element the frame's y axis points to, e.g. ``"Mo"``.
    cutoff_factor : float
        Neighbour definition [1].
    remove_drift : bool
        Subtract the centre of mass from every frame.

    Returns
    -------
    EdgeVibrations
        σ along the edge, across it and along z [Å] with standard errors.
    """
    frames = read_trajectory(trajectory)
    mean, displacement = _displacements(frames, remove_drift)
    return _edge_vibrations(frames, mean, displacement, element, toward, cutoff_factor)


@keyword_rng(2)
def perturb_atoms(atoms: Atoms, amplitudes: VibrationalAmplitudes, *, rng: np.random.Generator,
                  scale: float = 1.0) -> Atoms:
    """One frozen-phonon configuration: Gaussian displacements by element and coordination.

    Parameters
    ----------
    atoms : ase.Atoms
        The static structure.
    amplitudes : VibrationalAmplitudes
        σ per (element, coordination) [Å]; with ``edges`` the edge atoms are
        displaced in their edge frame.
    rng : numpy.random.Generator
        Source of the displacements.
    scale : float
        Factor on every amplitude [1] (e.g. > 1 for beam heating, thesis ch. 5).

    Returns
    -------
    ase.Atoms
        A displaced copy.
    """
    if not (math.isfinite(scale) and scale >= 0):
        raise TemnnError(f"scale: expected a factor ≥ 0 on the amplitudes, got {scale!r}")
    symbols = atoms.get_chemical_symbols()
    coordination = coordination_numbers(atoms, cutoff_factor=amplitudes.cutoff_factor)
    displacement = rng.standard_normal((len(atoms), 3)) * amplitudes._sigmas(symbols, coordination) * scale
    edges = amplitudes.edges
    if edges is not None:
        indices = np.flatnonzero((np.array(symbols) == edges.element) & (coordination == edges.coordination))
        if len(indices):
            frames = edge_frames(atoms, indices, toward=edges.toward)
            local = rng.standard_normal((len(indices), 3)) * np.asarray(edges.amplitudes.sigma) * scale
            displacement[indices] = np.einsum("nj,nji->ni", local, frames)  # global = Rᵀ · local
    out = atoms.copy()
    out.positions = atoms.positions + displacement
    return out


# --------------------------------------------------------------------- helpers
def _group(data: Mapping[str, Any]) -> VibrationGroup:
    sigma = tuple(float(s) for s in data["sigma"])
    stderr = tuple(float(s) for s in data.get("stderr", (0.0, 0.0, 0.0)))
    if len(sigma) != 3 or len(stderr) != 3 or not all(math.isfinite(s) and s >= 0 for s in sigma):
        raise ValueError(f"'sigma' must be three amplitudes ≥ 0 in Å, got {data['sigma']!r}")
    return VibrationGroup(sigma, stderr, int(data.get("atoms", 0)))  # type: ignore[arg-type]


def _displacements(frames: list[Atoms], remove_drift: bool) -> tuple[Atoms, np.ndarray]:
    """Mean structure and displacements about it, (frames, N, 3) [Å], unwrapped and drift-free."""
    from ase.geometry import find_mic

    first = frames[0]
    positions = np.stack([f.positions for f in frames])
    if first.pbc.any():
        steps = positions - positions[0]
        for t in range(1, len(frames)):
            steps[t] = find_mic(steps[t], first.cell, first.pbc)[0]
        positions = positions[0] + steps
    if remove_drift:
        masses = first.get_masses()
        centre = np.einsum("tnk,n->tk", positions, masses) / masses.sum()
        positions = positions - (centre - centre[0])[:, None, :]
    mean_positions = positions.mean(axis=0)
    mean = first.copy()
    mean.positions = mean_positions
    return mean, positions - mean_positions


def _summarise(sigma: np.ndarray, n_frames: int) -> VibrationGroup:
    """Mean amplitude of a group of atoms (rows of ``sigma``) with its standard error."""
    n = len(sigma)
    mean = sigma.mean(axis=0)
    sampling = mean / math.sqrt(2 * (n_frames - 1) * n)
    scatter = sigma.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(3)
    stderr = np.maximum(scatter, sampling)
    return VibrationGroup(tuple(float(s) for s in mean), tuple(float(s) for s in stderr), n)  # type: ignore[arg-type]


def _edge_vibrations(frames: list[Atoms], mean: Atoms, displacement: np.ndarray, element: str,
                     toward: str | None, cutoff_factor: float) -> EdgeVibrations:
    indices = edge_atoms(mean, element, cutoff_factor=cutoff_factor)
    coordination = int(coordination_numbers(mean, cutoff_factor=cutoff_factor)[indices[0]])
    rotations = edge_frames(mean, indices, toward=toward)
    local = np.einsum("nij,tnj->tni", rotations, displacement[:, indices])
    group = _summarise(local.std(axis=0, ddof=1), len(frames))
    return EdgeVibrations(element, coordination, toward, group)
