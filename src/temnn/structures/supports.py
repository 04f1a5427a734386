"""Oxide supports seen in profile: a crystal block with a chosen surface and zone axis.

The block is built in the *interface frame*: the zone axis along z (the beam), the
surface normal along +y, and the top atomic plane at y = 0, so the support fills y ≤ 0
and a particle sits at y > 0. The top plane is chosen above the widest gap between the
crystal's planes parallel to the surface, which gives the stoichiometric termination:
O-Ce-O trilayers for fluorite (111), complete layers for rock-salt (100).

Supports are named (:data:`SUPPORTS`: CeO2 by default, as in the thesis) or given as any
bulk crystal, an ``ase.Atoms`` or a file ASE can read, with the surface and zone axis as
Miller indices of that cell.

Examples
--------
>>> bulk = support_bulk("CeO2")
>>> slab = support_slab(bulk, surface=(1, 1, 1), x=(-10, 10), depth=10, thickness=10)
>>> float(slab.positions[:, 1].max()), sorted(set(slab[slab.positions[:, 1] > -0.1].get_chemical_symbols()))
(0.0, ['O'])
"""

from __future__ import annotations

import os
from typing import Sequence

import ase.io
import numpy as np
from ase import Atoms
from ase.build import bulk as ase_bulk

from ..errors import TemnnError

__all__ = ["SUPPORTS", "support_bulk", "default_zone_axis", "interface_rotation", "support_slab"]

SUPPORTS: dict[str, tuple[str, float]] = {
    "CeO2": ("fluorite", 5.47),
    "ZrO2": ("fluorite", 5.09),
    "ThO2": ("fluorite", 5.60),
    "MgO": ("rocksalt", 4.21),
    "NiO": ("rocksalt", 4.18),
}
"""Named supports: crystal structure and cubic lattice constant a [Å].

CeO2 follows the thesis (Materials Project value); the others are room-temperature
experimental values (cubic ZrO2 is its high-temperature phase). Any other support can be
given as a bulk file.
"""

_ZONE_CANDIDATES = ((1, -1, 0), (1, 0, -1), (0, 1, -1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (0, 0, 1), (1, 0, 0), (0, 1, 0))


def support_bulk(support: str | Atoms | os.PathLike, *, a: float | None = None) -> Atoms:
    """The bulk crystal of a support: a named oxide, an ``ase.Atoms`` or a file ASE reads.

    Parameters
    ----------
    support : str, ase.Atoms or path
        A name from :data:`SUPPORTS` (conventional cubic cell), a bulk structure, or a
        path to a bulk structure file (its full 3D periodic cell is used).
    a : float, optional
        Lattice constant [Å] overriding the table (named supports only).

    Returns
    -------
    ase.Atoms
        The bulk cell.
    """
    if isinstance(support, Atoms):
        atoms, source = support.copy(), "support"
    elif isinstance(support, str) and support in SUPPORTS:
        structure, a_table = SUPPORTS[support]
        if a is not None and not (isinstance(a, (int, float)) and a > 0):
            raise TemnnError(f"'support_a' must be a lattice constant > 0 in Å, got {a!r}")
        return ase_bulk(support, structure, a=a_table if a is None else float(a), cubic=True)
    else:
        source = str(support)
        if not os.path.exists(source):
            raise TemnnError(
                f"'support' must be one of {', '.join(SUPPORTS)} or a bulk structure file ASE can read; "
                f"{source!r} is neither"
            )
        try:
            atoms = ase.io.read(source)
        except Exception as err:  # ASE raises many types for unreadable files
            raise TemnnError(f"{source}: ASE cannot read a bulk structure from this file ({err})") from None
    if len(atoms) == 0 or atoms.cell.rank < 3:
        raise TemnnError(f"{source}: a support needs a bulk crystal with atoms and a full 3D cell")
    return atoms


def default_zone_axis(surface: Sequence[int]) -> tuple[int, int, int]:
    """The first low-index zone axis [uvw] lying in the surface plane (Weiss zone law hu+kv+lw = 0).

    ⟨110⟩ directions come first, the thesis's zone axis for CeO2 and FCC particles.
    """
    for zone in _ZONE_CANDIDATES:
        if int(np.dot(zone, surface)) == 0:
            return zone
    raise TemnnError(
        f"no low-index zone axis lies in the surface {tuple(surface)}; give 'support_zone' as [u, v, w] with "
        "h·u + k·v + l·w = 0"
    )


def interface_rotation(cell: np.ndarray, surface: Sequence[int], zone_axis: Sequence[int]) -> np.ndarray:
    """Rotation matrix from a crystal's Cartesian frame to the interface frame.

    Parameters
    ----------
    cell : numpy.ndarray, shape (3, 3)
        Lattice vectors (rows) [Å].
    surface : (int, int, int)
        Miller indices (hkl) of the surface; its normal becomes +y.
    zone_axis : (int, int, int)
        Direction [uvw] in lattice coordinates; becomes +z (the beam).

    Returns
    -------
    numpy.ndarray, shape (3, 3)
        Rows are the crystal-frame unit vectors of x, y, z; ``local = R @ cartesian``.
    """
    if int(np.dot(surface, zone_axis)) != 0:
        raise TemnnError(
            f"the zone axis {list(zone_axis)} does not lie in the surface plane {tuple(surface)} "
            "(need h·u + k·v + l·w = 0 so the interface is seen edge-on)"
        )
    cell = np.asarray(cell, dtype=np.float64)
    normal = np.linalg.inv(cell) @ np.asarray(surface, dtype=np.float64)  # h·b1 + k·b2 + l·b3
    beam = np.asarray(zone_axis, dtype=np.float64) @ cell  # u·a1 + v·a2 + w·a3
    y = normal / np.linalg.norm(normal)
    z = beam / np.linalg.norm(beam)
    return np.stack([np.cross(y, z), y, z])


def support_slab(
    bulk: Atoms,
    *,
    surface: Sequence[int] = (1, 1, 1),
    zone_axis: Sequence[int] | None = None,
    x: tuple[float, float],
    depth: float,
    thickness: float,
) -> Atoms:
    """A support block in the interface frame, its top atomic plane at y = 0.

    Parameters
    ----------
    bulk : ase.Atoms
        Bulk crystal (:func:`support_bulk`).
    surface : (int, int, int)
        Miller indices of the surface facing the particle (+y).
    zone_axis : (int, int, int), optional
        Lattice direction along the beam (z); :func:`default_zone_axis` when ``None``.
    x : (float, float)
        Extent along the surface [Å].
    depth : float
        Extent below the surface (−y) [Å].
    thickness : float
        Extent along the beam [Å], centred on z = 0.

    Returns
    -------
    ase.Atoms
        The block (no cell).
    """
    zone_axis = default_zone_axis(surface) if zone_axis is None else tuple(int(v) for v in zone_axis)
    rotation = interface_rotation(bulk.cell[:], surface, zone_axis)
    reach = 2 * float(np.linalg.norm(bulk.cell[:], axis=1).max())  # ≥ one stacking period along y
    low = np.array([x[0], -depth - reach, -thickness / 2])
    high = np.array([x[1], reach, thickness / 2])
    corners = np.array([[hx, hy, hz] for hx in (low[0], high[0]) for hy in (low[1], high[1]) for hz in (low[2], high[2])])
    fractional = corners @ rotation @ np.linalg.inv(bulk.cell[:])  # local → Cartesian → lattice
    start, stop = np.floor(fractional.min(axis=0)) - 1, np.ceil(fractional.max(axis=0)) + 1
    translations = np.stack(
        np.meshgrid(*(np.arange(s, e) for s, e in zip(start, stop)), indexing="ij"), axis=-1
    ).reshape(-1, 1, 3)
    basis = bulk.get_scaled_positions(wrap=False)
    local = ((translations + basis).reshape(-1, 3) @ bulk.cell[:]) @ rotation.T
    numbers = np.tile(bulk.numbers, len(translations))
    inside = np.all((local >= low) & (local <= high), axis=1)
    local, numbers = local[inside], numbers[inside]

    # Atomic planes parallel to the surface; the top plane sits below the widest gap nearest y = 0.
    planes = np.unique(np.round(local[:, 1], 6))
    planes = planes[planes >= -reach]
    gaps = np.diff(planes)
    widest = np.flatnonzero(gaps >= gaps.max() - 1e-3)
    top = planes[widest[np.argmin(np.abs(planes[widest]))]]
    keep = (local[:, 1] <= top + 1e-6) & (local[:, 1] >= top - depth)
    local = local[keep]
    local[:, 1] -= local[:, 1].max()
    return Atoms(numbers=numbers[keep], positions=local)
