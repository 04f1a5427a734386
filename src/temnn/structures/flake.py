"""Random nanoflakes of any 2D material (thesis section 3.1, publication I methods).

A flake is cut from a large sheet of the material: random points inside a disc, their
convex hull, and every atomic column whose site lies inside the hull. Holes (whole
columns removed) and vacancies (single atoms removed) follow, then a Gaussian
perturbation of all positions, a random tilt, a random rotation about the beam and a
random position in the cell.

Columns are decided on the perfect, untilted sheet (see :mod:`temnn.structures.sites`),
so the flake edge never splits a column, a vacancy always leaves a smaller column of the
same site, and tilt never breaks a column apart.

Examples
--------
>>> import numpy as np
>>> from ase.build import graphene
>>> sample = random_flake(graphene(), rng=np.random.default_rng(0), cell=(20, 20))
>>> sample.class_names
('1C',)
>>> bool((sample.atoms.positions[:, :2] >= 2.0).all())
True
"""

from __future__ import annotations

import os
from typing import Sequence

import ase.io
import numpy as np
import scipy.spatial
from ase import Atoms

from ..errors import TemnnError
from . import _geometry
from ._options import Range, as_cell, as_int_range, as_nonnegative, as_positive, as_range, as_tilt, draw
from .sample import Sample
from .sites import (
    COLUMN_TOLERANCE,
    column_centres,
    column_counts,
    composition_classes,
    composition_name,
    find_columns,
)

__all__ = [
    "read_unit_cell",
    "flake_classes",
    "cut_flake",
    "place_flake",
    "classify_columns",
    "default_radius",
    "random_flake",
]


def read_unit_cell(unit_cell: Atoms | str | os.PathLike) -> Atoms:
    """A 2D material's unit cell, from an ``ase.Atoms`` or any file ASE can read.

    Parameters
    ----------
    unit_cell : ase.Atoms or path
        The unit cell; its first two lattice vectors must lie in the xy plane (the layer).

    Returns
    -------
    ase.Atoms
        A copy of the unit cell.

    Raises
    ------
    temnn.TemnnError
        The file cannot be read, holds no atoms, or its layer is not in the xy plane.
    """
    if isinstance(unit_cell, Atoms):
        atoms, source = unit_cell.copy(), "unit cell"
    else:
        source = str(unit_cell)
        try:
            atoms = ase.io.read(source)
        except FileNotFoundError:
            raise TemnnError(f"{source}: file not found (expected a unit cell of a 2D material that ASE can read)") from None
        except Exception as err:  # ASE raises many types for unreadable files
            raise TemnnError(
                f"{source}: ASE cannot read a structure from this file ({err}); give a file ASE reads "
                "(e.g. .traj, .xyz, .cif, .json, POSCAR) holding one unit cell"
            ) from None
    if len(atoms) == 0:
        raise TemnnError(f"{source}: the unit cell holds no atoms")
    in_plane = atoms.cell[:2]
    area = abs(np.linalg.det(in_plane[:, :2])) if in_plane.shape == (2, 3) else 0.0
    if area < 1e-6 or np.abs(in_plane[:, 2]).max() > 1e-6 * max(1.0, np.abs(in_plane).max()):
        raise TemnnError(
            f"{source}: the first two lattice vectors of a 2D unit cell must span the xy plane (the layer, "
            f"normal to the beam), got cell {np.round(atoms.cell[:], 4).tolist()}; rotate the cell so the "
            "layer lies in xy"
        )
    return atoms


def _sheet(unit_cell: Atoms, radius: float) -> Atoms:
    """The layer repeated over a disc of ``radius`` [Å] about the origin (lattice point 0 at the origin)."""
    lattice = unit_cell.cell[:2, :2]
    # Fractional extent of a disc: |f_i| ≤ radius · |column i of the inverse lattice|.
    n = np.ceil(radius * np.linalg.norm(np.linalg.inv(lattice), axis=0)).astype(int) + 1
    sheet = unit_cell.repeat((2 * n[0] + 1, 2 * n[1] + 1, 1))
    sheet.positions -= n[0] * unit_cell.cell[0] + n[1] * unit_cell.cell[1]
    return sheet[np.linalg.norm(sheet.positions[:, :2], axis=1) <= radius]


def _elements(atoms: Atoms) -> list[str]:
    return list(dict.fromkeys(atoms.get_chemical_symbols()))


def flake_classes(unit_cell: Atoms, *, tolerance: float = COLUMN_TOLERANCE) -> tuple[list[str], list[tuple[int, ...]]]:
    """The column classes of a material: pristine column compositions, then their vacancy forms.

    Parameters
    ----------
    unit_cell : ase.Atoms
        Unit cell of the 2D material (layer in the xy plane).
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.

    Returns
    -------
    elements : list of str
        Element order of the composition vectors (order of first appearance in the cell).
    classes : list of tuple of int
        Composition of each class (see :func:`temnn.structures.sites.composition_classes`).

    Examples
    --------
    >>> from ase.build import mx2
    >>> elements, classes = flake_classes(mx2("MoS2"))
    >>> [composition_name(c, elements) for c in classes]
    ['1Mo', '2S', '1S']
    """
    lattice = np.linalg.norm(unit_cell.cell[:2], axis=1).max()
    reach = np.linalg.norm(unit_cell.positions[:, :2], axis=1).max()
    sheet = _sheet(unit_cell, reach + 2 * lattice + tolerance)
    columns = find_columns(sheet.positions, tolerance=tolerance)
    elements = _elements(unit_cell)
    counts = column_counts(sheet.get_chemical_symbols(), columns, elements)
    # The column of each unit-cell atom, in the cell's atom order (the zero-translation copy).
    _, index = scipy.spatial.cKDTree(sheet.positions).query(unit_cell.positions)
    return elements, composition_classes([tuple(counts[columns[i]]) for i in index])


def _hull_mask(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """True for the (x, y) positions inside the convex hull of ``points``."""
    hull = scipy.spatial.ConvexHull(points)
    return np.all(xy @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9, axis=1)


def _defects(
    rng: np.random.Generator, columns: np.ndarray, eligible: np.ndarray, vacancies: float, holes: float
) -> np.ndarray:
    """Mask of the atoms kept after holes, then vacancies.

    ``holes`` is the fraction of columns emptied; ``vacancies`` the fraction of the eligible
    atoms removed singly, at most one per column (so each vacancy leaves one smaller column).
    Both fractions refer to the flake before any defect; vacancies are capped by the number of
    columns that still hold an eligible atom.
    """
    n_columns = int(columns.max()) + 1 if len(columns) else 0
    hole_columns = rng.choice(n_columns, size=int(round(holes * n_columns)), replace=False)
    keep = ~np.isin(columns, hole_columns)
    n_vacancies = int(round(vacancies * np.count_nonzero(eligible)))
    # A random order of the remaining eligible atoms; the first atom met in each column is that
    # column's candidate, and the first n candidates (random columns) lose that atom.
    order = rng.permutation(np.flatnonzero(keep & eligible))
    _, first = np.unique(columns[order], return_index=True)
    keep[order[np.sort(first)][:n_vacancies]] = False
    return keep


def cut_flake(
    unit_cell: Atoms,
    *,
    rng: np.random.Generator,
    radius: float,
    hull_points: tuple[int, int] = (5, 15),
    vacancies: float = 0.0,
    holes: float = 0.0,
    vacancy_elements: Sequence[str] | None = None,
    tolerance: float = COLUMN_TOLERANCE,
) -> Atoms:
    """A defective flake in the layer's own frame, before perturbation, tilt and placement.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness.
    unit_cell : ase.Atoms
        Unit cell of the 2D material (layer in the xy plane).
    radius : float
        Radius [Å] of the disc about the origin inside which the hull points are drawn.
    hull_points : (int, int)
        Inclusive range of the number of random hull points (≥ 3).
    vacancies : float
        Fraction of the eligible atoms removed singly (at most one per column) [1].
    holes : float
        Fraction of the columns removed entirely [1].
    vacancy_elements : sequence of str, optional
        Elements that may become vacancies; all elements when ``None``.
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.

    Returns
    -------
    ase.Atoms
        The flake, with per-atom arrays ``"column"`` (column index, ``0 .. M-1``) and
        ``"reference"`` (the positions that define the columns [Å]).
    """
    lattice = np.linalg.norm(unit_cell.cell[:2], axis=1).max()
    sheet = _sheet(unit_cell, radius + 2 * lattice + tolerance)
    columns = find_columns(sheet.positions, tolerance=tolerance)
    n_points = int(rng.integers(hull_points[0], hull_points[1] + 1))
    r = radius * np.sqrt(rng.uniform(0.0, 1.0, n_points))  # uniform over the disc area
    phi = rng.uniform(0.0, 2 * np.pi, n_points)
    points = np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
    inside = _hull_mask(points, column_centres(sheet.positions, sheet.get_masses(), columns))
    flake = sheet[inside[columns]]
    columns = np.unique(columns[inside[columns]], return_inverse=True)[1]
    symbols = np.array(flake.get_chemical_symbols())
    eligible = np.ones(len(flake), bool) if vacancy_elements is None else np.isin(symbols, list(vacancy_elements))
    keep = _defects(rng, columns, eligible, vacancies, holes)
    flake = flake[keep]
    flake.new_array("column", np.unique(columns[keep], return_inverse=True)[1].astype(np.int64))
    flake.new_array("reference", flake.positions.copy())
    return flake


def place_flake(
    atoms: Atoms,
    *,
    rng: np.random.Generator,
    cell: tuple[float, float],
    vacuum: float,
    distort: float,
    max_tilt: float,
) -> Atoms:
    """Perturb, tilt, rotate about z and place a flake (with its ``"column"`` array) in the cell.

    Positions get Gaussian noise of σ = ``distort`` [Å] per coordinate, a tilt up to
    ``max_tilt`` [degrees] in a random direction about the centroid, a random rotation
    about z and a random lateral position; columns that do not fit are removed (see
    :func:`temnn.structures._geometry.crop_and_box`).
    """
    atoms = atoms.copy()
    if len(atoms) == 0:  # e.g. a hull between columns of a tiny flake, or holes = 1
        return _geometry.crop_and_box(atoms, cell, vacuum)
    atoms.positions += rng.normal(0.0, distort, size=atoms.positions.shape)
    tilt = _geometry.random_tilt(rng, max_tilt)
    atoms.positions = _geometry.rotate(atoms.positions, tilt, atoms.positions.mean(axis=0))
    placement = _geometry.draw_placement(rng, atoms.positions, cell, vacuum)
    atoms.positions = placement.apply(atoms.positions)
    return _geometry.crop_and_box(atoms, cell, vacuum)


def classify_columns(atoms: Atoms, elements: Sequence[str], classes: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Sites [Å] and class indices of the columns of a placed flake.

    Parameters
    ----------
    atoms : ase.Atoms
        Placed flake with a per-atom ``"column"`` array.
    elements, classes
        From :func:`flake_classes`.

    Returns
    -------
    sites : numpy.ndarray, shape (M, 2)
        Mass-weighted column centres [Å].
    column_classes : numpy.ndarray, shape (M,)
        Index into ``classes`` of each column.
    """
    columns = np.unique(atoms.arrays["column"], return_inverse=True)[1]
    counts = column_counts(atoms.get_chemical_symbols(), columns, elements)
    lookup = {c: i for i, c in enumerate(classes)}
    try:
        column_classes = np.array([lookup[tuple(int(n) for n in c)] for c in counts], dtype=np.int64)
    except KeyError as err:  # a column that no defect of the perfect crystal can produce
        raise RuntimeError(f"column composition {err} is not among the material's classes") from None
    return column_centres(atoms.positions, atoms.get_masses(), columns), column_classes


def default_radius(cell: tuple[float, float], vacuum: float) -> float:
    """Flake radius [Å] that fits the cell: half the smaller side, less ``vacuum`` and 1 Å."""
    return min(cell) / 2 - vacuum - 1.0


def cut_random_flake(
    unit_cell: Atoms,
    *,
    rng: np.random.Generator,
    cell: tuple[float, float],
    vacuum: float,
    tolerance: float,
    vacancies: tuple[float, float],
    holes: tuple[float, float],
    vacancy_elements: Sequence[str] | None,
    radius: float | None,
    hull_points: int | tuple[int, int],
) -> tuple[Atoms, list[str], list, float]:
    """Cut a random flake from a validated unit cell: the common first step of the flake builders.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the vacancy fraction, then the hole fraction, then the outline (in this order).
    unit_cell : ase.Atoms
        Unit cell of the layer.
    cell : (float, float)
        Lateral size of the simulation cell [Å].
    vacuum : float
        Smallest distance from any atom to any cell face [Å].
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.
    vacancies, holes : (float, float)
        Validated ranges of the vacancy and hole fractions [1].
    vacancy_elements : sequence of str, optional
        Elements that may become vacancies; all when ``None``.
    radius : float, optional
        Radius of the disc holding the hull points [Å]; by default the flake fits the cell.
    hull_points : int or (int, int)
        Number of hull points (inclusive range, ≥ 3).

    Returns
    -------
    flake, elements, classes, radius
        The cut flake (not yet placed), the column composition classes of
        :func:`flake_classes` and the radius used [Å].
    """
    radius = default_radius(cell, vacuum) if radius is None else as_positive(radius, "radius", "Å")
    if radius <= 0:
        raise TemnnError(f"'cell' {cell} Å is too small for a flake with {vacuum:g} Å vacuum; use a larger cell")
    elements, classes = flake_classes(unit_cell, tolerance=tolerance)
    flake = cut_flake(
        unit_cell,
        rng=rng,
        radius=radius,
        hull_points=as_int_range(hull_points, "hull_points", "number of points", minimum=3),
        vacancies=draw(rng, vacancies),
        holes=draw(rng, holes),
        vacancy_elements=vacancy_elements,
        tolerance=tolerance,
    )
    return flake, elements, classes, radius


def random_flake(
    unit_cell: Atoms | str | os.PathLike,
    *,
    rng: np.random.Generator,
    cell: float | tuple[float, float] = (50.0, 50.0),
    vacancies: float | Range = 0.05,
    holes: float | Range = 0.05,
    vacancy_elements: Sequence[str] | None = None,
    distort: float = 0.01,
    max_tilt: float = 10.0,
    radius: float | None = None,
    hull_points: int | tuple[int, int] = (5, 15),
    vacuum: float = 2.0,
    tolerance: float = COLUMN_TOLERANCE,
) -> Sample:
    """A random defective nanoflake of any 2D material (publication I, C2DB data set).

    Defaults follow publication I: 5 % vacancies, 5 % holes, σ = 0.01 Å perturbation,
    tilt up to 10°.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (same state → identical sample).
    unit_cell : ase.Atoms or path
        Unit cell of the material, or a file ASE can read; the layer must lie in the xy plane.
    cell : float or (float, float)
        Lateral size (x, y) of the simulation cell [Å].
    vacancies : float or (float, float)
        Fraction of the (eligible) atoms removed singly, at most one per column [1];
        a (low, high) pair is drawn uniformly per sample.
    holes : float or (float, float)
        Fraction of the columns removed entirely [1]; a pair is drawn per sample.
    vacancy_elements : sequence of str, optional
        Elements that may become vacancies; all when ``None``.
    distort : float
        σ of the Gaussian perturbation of every coordinate [Å].
    max_tilt : float
        Largest tilt off the z axis [degrees]; the tilt is uniform in [0, max_tilt] about
        an in-plane axis of random azimuth.
    radius : float, optional
        Radius of the disc holding the random hull points [Å]. Defaults to half the
        smaller cell side less ``vacuum`` and 1 Å (the flake fits the cell); larger
        flakes are cut at the cell edges (whole columns removed).
    hull_points : int or (int, int)
        Number of random points whose convex hull outlines the flake (inclusive range, ≥ 3).
    vacuum : float
        Smallest distance from any atom to any cell face [Å].
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.

    Returns
    -------
    Sample
        Classes are column compositions such as ``"1B"``, ``"1N"``, ``"2S"``, ``"1Mo"``:
        the pristine columns of the unit cell first, then their vacancy forms
        (:func:`flake_classes`). ``object_atoms`` is ``None`` (no support).
    """
    unit_cell = read_unit_cell(unit_cell)
    cell = as_cell(cell)
    vacuum = as_nonnegative(vacuum, "vacuum", "Å")
    tolerance = as_positive(tolerance, "tolerance", "Å")
    vacancy_range = as_range(vacancies, "vacancies", "fraction of atoms", minimum=0.0, maximum=1.0)
    hole_range = as_range(holes, "holes", "fraction of columns", minimum=0.0, maximum=1.0)
    if vacancy_elements is not None:
        unknown = sorted(set(vacancy_elements) - set(unit_cell.get_chemical_symbols()))
        if unknown:
            raise TemnnError(
                f"'vacancy_elements' {unknown} are not in the unit cell (elements: {_elements(unit_cell)})"
            )
    flake, elements, classes, _ = cut_random_flake(
        unit_cell, rng=rng, cell=cell, vacuum=vacuum, tolerance=tolerance, vacancies=vacancy_range,
        holes=hole_range, vacancy_elements=vacancy_elements, radius=radius, hull_points=hull_points,
    )
    flake = place_flake(
        flake,
        rng=rng,
        cell=cell,
        vacuum=vacuum,
        distort=as_nonnegative(distort, "distort", "Å"),
        max_tilt=as_tilt(max_tilt),
    )
    sites, column_classes = classify_columns(flake, elements, classes)
    return Sample(
        atoms=_geometry.plain(flake),
        sites=sites,
        classes=column_classes,
        class_names=tuple(composition_name(c, elements) for c in classes),
    )
