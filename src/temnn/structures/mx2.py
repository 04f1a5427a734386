"""Random MX2 monolayer flakes (2H), MoS2 by default, optionally on a graphene flake.

Thesis section 3.1 ("2D Monolayer Nanoflakes"), publication I (MoS2 on graphene) and
publication III (MoS2 with 0-20 % S vacancies and 0-5 % holes, tilt 0-1°).

Columns along the beam are 1M (one metal atom), 2X (two chalcogen atoms on top of each
other) and, after a vacancy, 1X. Holes (emptied 2X or 1M columns) are absent, not a class.
With ``split_1s=True`` the 1X class is split by which chalcogen layer is left:
``1X-top`` (the +z layer, the beam exit side in abTEM) and ``1X-bottom``.

With a graphene support the sites and classes describe the MX2 flake only: graphene
columns are part of ``Sample.atoms`` (they scatter the beam) but get no site, so neither a
Disk nor a Mask label marks them. ``Sample.object_atoms`` is the MX2 flake alone.

Examples
--------
>>> import numpy as np
>>> sample = random_mx2_flake(rng=np.random.default_rng(1), cell=(30, 30))
>>> sample.class_names
('1Mo', '2S', '1S')
>>> random_mx2_flake(rng=np.random.default_rng(1), cell=(30, 30), split_1s=True).class_names
('1Mo', '2S', '1S-top', '1S-bottom')
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import graphene as ase_graphene
from ase.build import mx2 as ase_mx2
from ase.data import atomic_numbers
from scipy.spatial.transform import Rotation

from ..errors import TemnnError
from . import _geometry
from ._options import Range, as_cell, as_nonnegative, as_positive, as_range, as_tilt, draw
from .flake import classify_columns, cut_flake, cut_random_flake, place_flake
from .sample import Sample
from .sites import COLUMN_TOLERANCE, composition_name

__all__ = [
    "MX2_LATTICE",
    "GRAPHENE_LATTICE",
    "SUPPORT_ROTATIONS",
    "mx2_unit_cell",
    "draw_support_rotation",
    "random_mx2_flake",
]

MX2_LATTICE: dict[str, tuple[float, float]] = {
    "MoS2": (3.18, 3.19),
    "MoSe2": (3.32, 3.34),
    "MoTe2": (3.55, 3.61),
    "WS2": (3.18, 3.14),
    "WSe2": (3.32, 3.35),
    "WTe2": (3.56, 3.63),
}
"""2H monolayer (a, thickness) [Å]: in-plane lattice constant and chalcogen-chalcogen height.

MoS2 uses ASE's ``mx2`` defaults, as the thesis did; the others are PBE monolayer values
(F. A. Rasmussen and K. S. Thygesen, J. Phys. Chem. C 119, 13169 (2015), the C2DB
precursor). Override with ``a=`` and ``thickness=``.
"""

GRAPHENE_LATTICE = 2.46
"""Graphene lattice constant [Å]."""

SUPPORT_ROTATIONS: tuple[float | None, ...] = (0.0, 15.0, 30.0, None)
"""Graphene-to-MX2 lattice rotations [degrees] of publication I, each drawn with
probability 1/4; ``None`` is a uniformly random angle in [0, 60) (the lattices' symmetry)."""


def mx2_unit_cell(
    metal: str = "Mo", chalcogen: str = "S", *, a: float | None = None, thickness: float | None = None
) -> Atoms:
    """2H MX2 monolayer unit cell with the metal plane at z = 0.

    Parameters
    ----------
    metal : str
        Metal element, e.g. ``"Mo"`` or ``"W"``.
    chalcogen : str
        Chalcogen element, e.g. ``"S"``, ``"Se"`` or ``"Te"``.
    a : float, optional
        In-plane lattice constant [Å]; from :data:`MX2_LATTICE` when ``None``.
    thickness : float, optional
        Height between the two chalcogen planes [Å]; from :data:`MX2_LATTICE` when ``None``.

    Returns
    -------
    ase.Atoms
        Three atoms (M, X, X) with the layer in the xy plane.
    """
    for name, symbol in (("metal", metal), ("chalcogen", chalcogen)):
        if symbol not in atomic_numbers:
            raise TemnnError(f"'{name}' must be a chemical symbol such as 'Mo' or 'S', got {symbol!r}")
    formula = f"{metal}{chalcogen}2"
    known = MX2_LATTICE.get(formula)
    if known is None and (a is None or thickness is None):
        raise TemnnError(
            f"no tabulated lattice for {formula} (known: {', '.join(MX2_LATTICE)}); give both 'a' and "
            "'thickness' in Å"
        )
    a = known[0] if a is None else as_positive(a, "a", "Å")
    thickness = known[1] if thickness is None else as_positive(thickness, "thickness", "Å")
    return ase_mx2(formula, kind="2H", a=a, thickness=thickness)


def draw_support_rotation(*, rng: np.random.Generator) -> float:
    """Rotation [degrees] of the graphene lattice relative to the MX2 lattice (publication I).

    A quarter each: 0° (same orientation), 15°, 30°, and a uniformly random angle in [0, 60).
    """
    case = SUPPORT_ROTATIONS[int(rng.integers(len(SUPPORT_ROTATIONS)))]
    return float(rng.uniform(0.0, 60.0)) if case is None else case


def _graphene_support(rng: np.random.Generator, *, radius: float, below: float, distance: Range, tolerance: float) -> Atoms:
    """A graphene flake rotated by :func:`draw_support_rotation`, ``distance`` [Å] below z = ``below``."""
    sheet = cut_flake(ase_graphene("C2", a=GRAPHENE_LATTICE), rng=rng, radius=radius, tolerance=tolerance)
    rotation = Rotation.from_euler("z", draw_support_rotation(rng=rng), degrees=True)
    sheet.positions = rotation.apply(sheet.positions)
    sheet.positions[:, 2] = below - draw(rng, distance)
    sheet.arrays["reference"] = sheet.positions.copy()
    return sheet


def random_mx2_flake(
    *,
    rng: np.random.Generator,
    metal: str = "Mo",
    chalcogen: str = "S",
    a: float | None = None,
    thickness: float | None = None,
    cell: float | tuple[float, float] = (50.0, 50.0),
    vacancies: float | Range = (0.0, 0.2),
    holes: float | Range = (0.0, 0.05),
    distort: float = 0.01,
    max_tilt: float = 1.0,
    graphene: bool = False,
    support_distance: float | Range = (3.3, 7.0),
    split_1s: bool = False,
    radius: float | None = None,
    hull_points: int | tuple[int, int] = (5, 15),
    vacuum: float = 2.0,
    tolerance: float = COLUMN_TOLERANCE,
) -> Sample:
    """A random 2H MX2 monolayer flake with vacancies and holes (MoS2 by default).

    Defaults follow publication III: per sample 0-20 % chalcogen vacancies and 0-5 %
    holes, σ = 0.01 Å perturbation, tilt up to 1°. Publication I used ``vacancies=0.05``,
    ``holes=0.05``, ``max_tilt=10`` (and ``graphene=True`` for its second data set).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (same state → identical sample).
    metal, chalcogen : str
        Elements of the MX2 compound.
    a, thickness : float, optional
        Lattice constant and chalcogen-chalcogen height [Å]; :data:`MX2_LATTICE` by default.
    cell : float or (float, float)
        Lateral size (x, y) of the simulation cell [Å].
    vacancies : float or (float, float)
        Fraction of the chalcogen atoms removed singly, each from a different 2X column
        (so each vacancy makes one 1X column) [1], within [0, 0.5]; a (low, high) pair is
        drawn uniformly per sample. Counted on the flake before defects; capped by the
        2X columns left after the holes.
    holes : float or (float, float)
        Fraction of all columns (1M and 2X) removed entirely [1]; a pair is drawn per sample.
    distort : float
        σ of the Gaussian perturbation of every coordinate [Å].
    max_tilt : float
        Largest tilt off the z axis [degrees], uniform in [0, max_tilt], random direction.
    graphene : bool
        Put a random graphene flake below the MX2 flake (lower z, the beam entrance side).
    support_distance : float or (float, float)
        Height of the lower chalcogen plane above the graphene plane [Å], drawn per sample.
    split_1s : bool
        Split the 1X class into ``1X-top`` and ``1X-bottom`` (which chalcogen remains).
    radius : float, optional
        Radius of the disc holding the random hull points [Å]; by default the flake fits
        the cell (half the smaller side less ``vacuum`` and 1 Å).
    hull_points : int or (int, int)
        Number of random points whose convex hull outlines the flake (inclusive range, ≥ 3).
    vacuum : float
        Smallest distance from any atom to any cell face [Å].
    tolerance : float
        In-plane distance [Å] at or below which atoms join one column.

    Returns
    -------
    Sample
        Classes ``("1Mo", "2S", "1S")`` (element names follow ``metal`` and ``chalcogen``),
        or ``("1Mo", "2S", "1S-top", "1S-bottom")`` with ``split_1s``. With ``graphene``,
        ``object_atoms`` is the MX2 flake alone and graphene has no sites.
    """
    unit_cell = mx2_unit_cell(metal, chalcogen, a=a, thickness=thickness)
    cell = as_cell(cell)
    vacuum = as_nonnegative(vacuum, "vacuum", "Å")
    tolerance = as_positive(tolerance, "tolerance", "Å")
    vacancy_range = as_range(vacancies, "vacancies", "fraction of the chalcogen atoms", minimum=0.0, maximum=0.5)
    hole_range = as_range(holes, "holes", "fraction of columns", minimum=0.0, maximum=1.0)
    distance_range = as_range(support_distance, "support_distance", "Å", minimum=0.0)
    flake, elements, classes, radius = cut_random_flake(
        unit_cell, rng=rng, cell=cell, vacuum=vacuum, tolerance=tolerance, vacancies=vacancy_range,
        holes=hole_range, vacancy_elements=[chalcogen], radius=radius, hull_points=hull_points,
    )
    flake.new_array("support", np.zeros(len(flake), dtype=np.int8))
    if graphene:
        support = _graphene_support(
            rng, radius=radius, below=unit_cell.positions[:, 2].min(), distance=distance_range, tolerance=tolerance
        )
        support.arrays["column"] += flake.arrays["column"].max() + 1 if len(flake) else 0
        support.new_array("support", np.ones(len(support), dtype=np.int8))
        flake += support
    system = place_flake(
        flake,
        rng=rng,
        cell=cell,
        vacuum=vacuum,
        distort=as_nonnegative(distort, "distort", "Å"),
        max_tilt=as_tilt(max_tilt),
    )
    is_object = system.arrays["support"] == 0
    layer = system[is_object]
    sites, column_classes = classify_columns(layer, elements, classes)
    names = [composition_name(c, elements) for c in classes]
    if split_1s:
        single = names.index(f"1{chalcogen}")
        # Each 1X column holds one atom; its untilted height tells which layer it is in
        # (the metal plane is at z = 0 in the unit cell and in the reference positions).
        columns = np.unique(layer.arrays["column"], return_inverse=True)[1]
        height = np.zeros(len(sites))
        height[columns] = layer.arrays["reference"][:, 2]
        column_classes = np.where(
            (column_classes == single) & (height < 0), len(names), column_classes
        )
        names[single] = f"1{chalcogen}-top"
        names.append(f"1{chalcogen}-bottom")
    return Sample(
        atoms=_geometry.plain(system),
        sites=sites,
        classes=column_classes,
        class_names=tuple(names),
        object_atoms=_geometry.plain(layer) if graphene else None,
    )
