"""Random FCC nanoparticles on an oxide support, seen in profile (thesis section 3.1, fig. 3.2).

A particle (Au by default) is built from random numbers of (100), (110) and (111)
layers (7-15 each) with ``ase.cluster.FaceCenteredCubic`` and turned so that its [1-10]
zone axis runs along the beam (z) and its [111] direction along +y. It is cut at a
random (111) plane between its centre and its lowest (111) facet, which exposes a flat
(111) facet (the expected interface). The particle is then tilted off the zone axis by up
to ``max_tilt`` in a random direction about its centre, and set ``gap`` (1 Å) above the
(111) surface of the support, whose [1-10] axis also runs along z: the interface is a
plane containing the beam, seen edge-on. The support fills the cell below that plane,
with a random thickness along the beam. The whole system is rotated at random about z
and the particle placed at random in the cell (inside the vacuum margin where it fits);
columns that reach closer than ``vacuum`` to a cell face are removed.

Columns are decided on the untilted particle (see :mod:`temnn.structures.sites`), so
each tilted column is one site at its projected centre of mass. Classes are
``("particle", "support")``; ``mask_classes == (0,)`` so a Mask label outlines the
particle only.

Examples
--------
>>> import numpy as np
>>> sample = random_supported_particle("Au", rng=np.random.default_rng(0), layers=7, cell=(40, 40))
>>> sample.class_names, sample.mask_classes
(('particle', 'support'), (0,))
"""

from __future__ import annotations

import os

import numpy as np
from ase import Atoms
from ase.cluster import FaceCenteredCubic
from ase.data import atomic_numbers, reference_states

from ..errors import TemnnError
from . import _geometry
from ._options import Range, as_cell, as_int_range, as_nonnegative, as_positive, as_range, as_tilt, draw
from .sample import Sample
from .sites import COLUMN_TOLERANCE, column_centres, find_columns
from .supports import interface_rotation, support_bulk, support_slab

__all__ = ["PARTICLE_CLASSES", "fcc_lattice_constant", "fcc_particle", "random_supported_particle"]

PARTICLE_CLASSES = ("particle", "support")
"""Class names of a supported particle's columns."""

_SURFACES = [(1, 0, 0), (1, 1, 0), (1, 1, 1)]


def fcc_lattice_constant(element: str, lattice_constant: float | None = None) -> float:
    """Cubic lattice constant [Å] of an FCC metal: the given value or ASE's reference state."""
    if element not in atomic_numbers:
        raise TemnnError(f"'element' must be a chemical symbol such as 'Au' or 'Pt', got {element!r}")
    if lattice_constant is not None:
        return as_positive(lattice_constant, "lattice_constant", "Å")
    state = reference_states[atomic_numbers[element]] or {}
    if state.get("symmetry") != "fcc":
        raise TemnnError(
            f"{element} is not FCC in ASE's reference states ({state.get('symmetry')}); give "
            "'lattice_constant' in Å to build an FCC particle of it anyway"
        )
    return float(state["a"])


def fcc_particle(element: str, layers: tuple[int, int, int], lattice_constant: float) -> Atoms:
    """An FCC particle in the interface frame: [1-10] along z, [111] along +y, centre atom at the origin.

    Parameters
    ----------
    element : str
        Chemical symbol.
    layers : (int, int, int)
        Number of (100), (110) and (111) layers counted from the centre (ASE convention).
    lattice_constant : float
        Cubic lattice constant [Å].

    Returns
    -------
    ase.Atoms
        The particle (no cell).
    """
    cluster = FaceCenteredCubic(element, _SURFACES, list(layers), latticeconstant=lattice_constant)
    rotation = interface_rotation(np.eye(3) * lattice_constant, (1, 1, 1), (1, -1, 0))
    return Atoms(numbers=cluster.numbers, positions=cluster.positions @ rotation.T)


def random_supported_particle(
    element: str = "Au",
    *,
    rng: np.random.Generator,
    lattice_constant: float | None = None,
    layers: int | tuple[int, int] = (7, 15),
    max_tilt: float = 5.0,
    cell: float | tuple[float, float] = (60.0, 60.0),
    support: str | Atoms | os.PathLike | None = "CeO2",
    support_a: float | None = None,
    support_surface: tuple[int, int, int] = (1, 1, 1),
    support_zone: tuple[int, int, int] | None = None,
    support_thickness: float | Range = (10.0, 50.0),
    gap: float = 1.0,
    distort: float = 0.0,
    vacuum: float = 2.0,
    tolerance: float = COLUMN_TOLERANCE,
) -> Sample:
    """A random FCC nanoparticle on an oxide support, in profile view (CeO2-supported Au by default).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (same state → identical sample).
    element : str
        The particle's element.
    lattice_constant : float, optional
        Cubic lattice constant of the particle [Å]; ASE's reference value when ``None``.
    layers : int or (int, int)
        Inclusive range of the number of (100), (110) and (111) layers counted from the
        centre, drawn independently for each family.
    max_tilt : float
        Largest tilt of the particle's zone axis off z [degrees], uniform in [0, max_tilt]
        in a random direction. The support stays on its zone axis.
    cell : float or (float, float)
        Lateral size (x, y) of the simulation cell [Å] (thesis fig. 3.2: 60 × 60 Å).
    support : str, ase.Atoms, path or None
        The support's bulk crystal: a name from :data:`temnn.structures.supports.SUPPORTS`
        (``"CeO2"``, ``"ZrO2"``, ``"ThO2"``, ``"MgO"``, ``"NiO"``), a bulk ``ase.Atoms`` or a
        file ASE can read; ``None`` for a free particle.
    support_a : float, optional
        Lattice constant of a named support [Å], overriding the table.
    support_surface : (int, int, int)
        Miller indices of the support surface under the particle, in the support's cell.
    support_zone : (int, int, int), optional
        Support direction along the beam, in the plane of ``support_surface``; by default
        the first ⟨110⟩ direction that is (``[1-10]`` for (111)).
    support_thickness : float or (float, float)
        Thickness of the support along the beam [Å], drawn per sample.
    gap : float
        Distance along the surface normal between the support's top atomic plane and the
        particle's lowest atom [Å].
    distort : float
        σ of a Gaussian perturbation of every coordinate [Å] (after the gap is set).
    vacuum : float
        Smallest distance from any atom to any cell face [Å].
    tolerance : float
        In-plane distance [Å] at or below which atoms of the untilted structure join one column.

    Returns
    -------
    Sample
        ``class_names == ("particle", "support")``, ``mask_classes == (0,)``;
        ``object_atoms`` is the particle alone in the same cell.
    """
    a = fcc_lattice_constant(element, lattice_constant)
    layer_range = as_int_range(layers, "layers", "layers from the centre", minimum=1)
    max_tilt = as_tilt(max_tilt)
    cell = as_cell(cell)
    thickness_range = as_range(support_thickness, "support_thickness", "Å", minimum=0.0)
    gap = as_nonnegative(gap, "gap", "Å")
    distort = as_nonnegative(distort, "distort", "Å")
    vacuum = as_nonnegative(vacuum, "vacuum", "Å")
    tolerance = as_positive(tolerance, "tolerance", "Å")
    bulk = None if support is None else support_bulk(support, a=support_a)

    particle = fcc_particle(element, tuple(rng.integers(layer_range[0], layer_range[1] + 1, size=3)), a)
    # Cut between two (111) planes, from just below the centre down to below the lowest facet (no cut).
    spacing = a / np.sqrt(3)
    planes_below = int(round(-particle.positions[:, 1].min() / spacing))
    cut = -(int(rng.integers(0, planes_below + 1)) + 0.5) * spacing
    particle = particle[particle.positions[:, 1] > cut]
    particle.new_array("column", find_columns(particle.positions, tolerance=tolerance))
    particle.new_array("support", np.zeros(len(particle), dtype=np.int8))
    particle.positions = _geometry.rotate(particle.positions, _geometry.random_tilt(rng, max_tilt), np.zeros(3))
    particle.positions[:, 1] += gap - particle.positions[:, 1].min()

    placement = _geometry.draw_placement(rng, particle.positions, cell, vacuum)
    system = particle
    thickness = draw(rng, thickness_range)
    if bulk is not None:
        # The support must cover the part of the cell below the interface: map the cell's corners
        # back into the interface frame to size the block.
        corners = placement.invert(np.array([[x, y, 0.0] for x in (0.0, cell[0]) for y in (0.0, cell[1])]))
        depth = -corners[:, 1].min()
        if depth > 0 and thickness > 0:
            slab = support_slab(
                bulk,
                surface=support_surface,
                zone_axis=support_zone,
                x=(corners[:, 0].min(), corners[:, 0].max()),
                depth=depth,
                thickness=thickness,
            )
            slab.new_array("column", find_columns(slab.positions, tolerance=tolerance) + len(particle))
            slab.new_array("support", np.ones(len(slab), dtype=np.int8))
            system = particle + slab
    system.positions += rng.normal(0.0, distort, size=system.positions.shape)
    system.positions = placement.apply(system.positions)
    system = _geometry.crop_and_box(system, cell, vacuum)

    columns = np.unique(system.arrays["column"], return_inverse=True)[1]
    sites = column_centres(system.positions, system.get_masses(), columns)
    column_class = np.zeros(len(sites), dtype=np.int64)
    column_class[columns] = system.arrays["support"]
    is_particle = system.arrays["support"] == 0
    return Sample(
        atoms=_geometry.plain(system),
        sites=sites,
        classes=column_class,
        class_names=PARTICLE_CLASSES,
        object_atoms=_geometry.plain(system[is_particle]),
        mask_classes=(0,),
    )
