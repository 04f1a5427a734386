"""Rigid motions shared by the builders: tilt, rotation about the beam, placement in the cell.

Conventions: the beam runs along z; the simulation cell is orthogonal with its lateral
size given by the user and its z size set by the structure plus ``vacuum`` on each side.
Every atom ends at least ``vacuum`` from every face of the cell; whole columns that would
not are removed, so no partial column is left at the cell edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation


def random_tilt(rng: np.random.Generator, max_tilt: float) -> Rotation:
    """A tilt off the z axis by θ ~ U(0, max_tilt) [degrees] about an in-plane axis of random azimuth."""
    theta = rng.uniform(0.0, max_tilt)
    phi = rng.uniform(0.0, 2 * np.pi)
    return Rotation.from_rotvec(np.radians(theta) * np.array([np.cos(phi), np.sin(phi), 0.0]))


def rotate(positions: np.ndarray, rotation: Rotation, centre: np.ndarray) -> np.ndarray:
    """Positions [Å] rotated by ``rotation`` about ``centre`` [Å]."""
    return rotation.apply(positions - centre) + centre


@dataclass(frozen=True)
class Placement:
    """Rotation about z by ``angle`` [degrees] about the origin, then a lateral ``shift`` [Å]."""

    angle: float
    shift: np.ndarray

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_euler("z", self.angle, degrees=True)

    def apply(self, positions: np.ndarray) -> np.ndarray:
        return self.rotation.apply(positions) + self.shift

    def invert(self, positions: np.ndarray) -> np.ndarray:
        return self.rotation.inv().apply(positions - self.shift)


def draw_placement(
    rng: np.random.Generator, anchor: np.ndarray, cell: tuple[float, float], vacuum: float
) -> Placement:
    """Random rotation about z (0-360°) and a random lateral position of ``anchor`` in the cell.

    The (x, y) bounding box of the rotated ``anchor`` positions [Å] is placed uniformly
    inside the cell less ``vacuum`` [Å] on each side. Where the box is wider than that
    window, it is placed uniformly among the positions that cover the whole window, so
    that as much of the anchor as possible stays in the cell.
    """
    angle = rng.uniform(0.0, 360.0)
    rotated = Rotation.from_euler("z", angle, degrees=True).apply(anchor)
    low, high = rotated[:, :2].min(axis=0), rotated[:, :2].max(axis=0)
    slack = np.asarray(cell) - 2 * vacuum - (high - low)
    corner = vacuum + rng.uniform(0.0, 1.0, size=2) * slack
    return Placement(angle=float(angle), shift=np.append(corner - low, 0.0))


def inside_columns(positions: np.ndarray, columns: np.ndarray, cell: tuple[float, float], vacuum: float) -> np.ndarray:
    """Mask of the atoms whose whole column lies at least ``vacuum`` [Å] inside the lateral cell faces."""
    xy = positions[:, :2]
    outside = np.any((xy < vacuum) | (xy > np.asarray(cell) - vacuum), axis=1)
    bad = np.zeros(int(columns.max()) + 1 if len(columns) else 0, dtype=bool)
    np.logical_or.at(bad, columns, outside)
    return ~bad[columns]


def crop_and_box(atoms: Atoms, cell: tuple[float, float], vacuum: float) -> Atoms:
    """Keep the whole columns (per-atom array ``"column"``) that fit the cell; box the rest.

    Columns with any atom closer than ``vacuum`` [Å] to a lateral face are removed. The
    structure is then shifted in z to leave ``vacuum`` below it, and the cell becomes
    orthogonal, periodic, ``cell`` [Å] wide and the structure's thickness plus twice
    ``vacuum`` high. Per-atom arrays are kept.
    """
    atoms = atoms[inside_columns(atoms.positions, atoms.arrays["column"], cell, vacuum)]
    if len(atoms):
        atoms.positions[:, 2] += vacuum - atoms.positions[:, 2].min()
        height = atoms.positions[:, 2].max() + vacuum
    else:
        height = 2 * vacuum
    atoms.set_cell([cell[0], cell[1], height])
    atoms.pbc = True
    return atoms


def plain(atoms: Atoms) -> Atoms:
    """Copy with numbers, positions, cell and pbc only (no builder bookkeeping arrays)."""
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
