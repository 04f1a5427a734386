"""Atomic columns seen along the beam (z): which atoms form a column, where its site is, what it holds.

Atoms that lie within ``tolerance`` (default 0.3 Å, thesis section 3.1) of each other in
the (x, y) plane, whatever their z, belong to one column; chains of such neighbours are
joined (single linkage). A column's *site* is the mass-weighted centre (x, y) of its atoms.

Tilted structures
-----------------
A tilt θ moves the atoms of one column apart in projection by their z separation times
sin θ: the two S atoms of a MoS2 2S column (3.2 Å apart in z) separate by 0.28 Å at 5°,
and the atoms of a 30 Å thick Au column by 2.6 Å at 5°. Clustering the tilted projection
with 0.3 Å would then break columns into pieces. The builders therefore pass the
*untilted* positions as ``reference``: column membership comes from the ideal crystal,
and each site is the mass-weighted centre of the column's atoms as they really are
(tilted and perturbed). A tilted column is thus always one site, at its projected
centre of mass, however far its atoms spread.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import scipy.spatial
from ase import Atoms

from ..errors import TemnnError

__all__ = [
    "COLUMN_TOLERANCE",
    "find_columns",
    "column_centres",
    "column_sites",
    "column_counts",
    "composition_name",
    "composition_classes",
]

COLUMN_TOLERANCE = 0.3
"""Default in-plane distance [Å] below which atoms join one column (thesis section 3.1)."""


def find_columns(xy: np.ndarray, *, tolerance: float = COLUMN_TOLERANCE) -> np.ndarray:
    """Group positions into columns: connected components of the "closer than tolerance" graph.

    Parameters
    ----------
    xy : numpy.ndarray, shape (N, 2) or (N, 3)
        Positions [Å]; only x and y are used.
    tolerance : float
        In-plane distance [Å] at or below which two atoms are in one column.

    Returns
    -------
    numpy.ndarray, shape (N,)
        Column index of each atom, ``0 .. M-1``, numbered in order of first appearance.

    Examples
    --------
    >>> find_columns(np.array([[0.0, 0.0], [0.2, 0.0], [1.0, 0.0]])).tolist()
    [0, 0, 1]
    """
    if tolerance <= 0:
        raise TemnnError(f"'tolerance' must be a positive in-plane distance in Å, got {tolerance!r}")
    xy = np.asarray(xy, dtype=np.float64)[:, :2]
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # A KD-tree finds all close pairs in O(N log N); the connected components of that
    # graph are exactly single-linkage clusters cut at `tolerance`.
    pairs = scipy.spatial.cKDTree(xy).query_pairs(tolerance, output_type="ndarray")
    graph = scipy.sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return labels.astype(np.int64)


def column_centres(positions: np.ndarray, masses: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Mass-weighted centre (x, y) [Å] of each column.

    Parameters
    ----------
    positions : numpy.ndarray, shape (N, 3)
        Atom positions [Å].
    masses : numpy.ndarray, shape (N,)
        Atom masses [u].
    columns : numpy.ndarray, shape (N,)
        Column index of each atom, ``0 .. M-1`` (every index used).

    Returns
    -------
    numpy.ndarray, shape (M, 2)
        Site of each column [Å].
    """
    columns = np.asarray(columns, dtype=np.int64)
    m = int(columns.max()) + 1 if len(columns) else 0
    total = np.bincount(columns, weights=masses, minlength=m)
    x = np.bincount(columns, weights=masses * positions[:, 0], minlength=m) / total
    y = np.bincount(columns, weights=masses * positions[:, 1], minlength=m) / total
    return np.stack([x, y], axis=1)


def column_sites(
    atoms: Atoms, *, tolerance: float = COLUMN_TOLERANCE, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column sites of a structure viewed along z.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure [Å].
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.
    reference : numpy.ndarray, shape (N, 3), optional
        Positions [Å] that decide column membership, e.g. the untilted, unperturbed
        structure (see the module notes on tilt). Defaults to ``atoms.positions``.

    Returns
    -------
    sites : numpy.ndarray, shape (M, 2)
        Mass-weighted centre (x, y) of each column [Å].
    columns : numpy.ndarray, shape (N,)
        Column index of each atom.

    Examples
    --------
    >>> from ase import Atoms
    >>> atoms = Atoms("MoS", positions=[(0, 0, 0), (0.2, 0, 3)])
    >>> sites, columns = column_sites(atoms)
    >>> columns.tolist(), sites.round(3).tolist()
    ([0, 0], [[0.05, 0.0]])
    """
    ref = atoms.positions if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape != atoms.positions.shape:
        raise TemnnError(f"'reference' must hold one (x, y, z) position per atom, shape {atoms.positions.shape}, got {ref.shape}")
    columns = find_columns(ref, tolerance=tolerance)
    return column_centres(atoms.positions, atoms.get_masses(), columns), columns


def column_counts(symbols: Sequence[str], columns: np.ndarray, elements: Sequence[str]) -> np.ndarray:
    """Number of atoms of each element in each column.

    Parameters
    ----------
    symbols : sequence of str
        Chemical symbol of each atom.
    columns : numpy.ndarray, shape (N,)
        Column index of each atom, ``0 .. M-1``.
    elements : sequence of str
        The element order of the count vectors.

    Returns
    -------
    numpy.ndarray, shape (M, len(elements))
        Atom counts per column and element.
    """
    index = {e: i for i, e in enumerate(elements)}
    missing = sorted(set(symbols) - set(index))
    if missing:
        raise ValueError(f"elements {missing} are not in the element list {list(elements)}")
    element_of_atom = np.array([index[s] for s in symbols], dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    m = int(columns.max()) + 1 if len(columns) else 0
    counts = np.zeros((m, len(elements)), dtype=np.int64)
    np.add.at(counts, (columns, element_of_atom), 1)
    return counts


def composition_name(counts: Sequence[int], elements: Sequence[str]) -> str:
    """Class name of a column composition, e.g. ``(1, 0) → "1Mo"``, ``(0, 2) → "2S"``."""
    return "".join(f"{n}{e}" for n, e in zip(counts, elements) if n > 0)


def composition_classes(pristine: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """All column compositions a defective crystal can show, in a fixed class order.

    The pristine compositions come first (in the given order), then every non-empty
    composition reachable by removing atoms (vacancies) from one of them, largest
    first. An empty column (a hole) is no class.

    Parameters
    ----------
    pristine : sequence of count vectors
        Compositions of the columns of the perfect crystal, e.g. ``[(1, 0), (0, 2)]``
        for MoS2 with elements ``("Mo", "S")``.

    Returns
    -------
    list of tuple of int
        Class compositions; for MoS2 ``[(1, 0), (0, 2), (0, 1)]`` = 1Mo, 2S, 1S.
    """
    classes: list[tuple[int, ...]] = []
    for key in pristine:
        key = tuple(int(n) for n in key)
        if key not in classes:
            classes.append(key)
    for key in list(classes):
        subs = [s for s in itertools.product(*(range(n + 1) for n in key)) if 0 < sum(s) and s != key]
        for sub in sorted(subs, key=lambda s: (-sum(s), [-n for n in s])):
            if sub not in classes:
                classes.append(sub)
    return classes
