"""Supported FCC particles: zone axis, interface gap, support side, containment, classes."""

from __future__ import annotations

import numpy as np
import pytest

from temnn.errors import TemnnError
from temnn.structures.particle import random_supported_particle
from temnn.structures.sites import find_columns

AU = 4.08  # ASE's reference lattice constant of Au [Å]
SMALL = dict(layers=(5, 7), cell=(40.0, 40.0), support_thickness=(10.0, 20.0))


def _parts(sample):
    support = sample.atoms.positions[len(sample.object_atoms):]
    return sample.object_atoms.positions, support


def _widest_gap(particle: np.ndarray, support: np.ndarray) -> tuple[float, float]:
    """Largest separation between the two point sets over in-plane directions, and its direction [deg].

    For a flat support surface that runs past the particle on both sides, the widest gap is
    the distance along the surface normal between the support's top plane and the particle.
    """

    def separation(angles: np.ndarray) -> np.ndarray:
        n = np.stack([np.cos(np.radians(angles)), np.sin(np.radians(angles))])
        return (particle[:, :2] @ n).min(axis=0) - (support[:, :2] @ n).max(axis=0)

    coarse = np.arange(0.0, 360.0, 0.25)
    best = coarse[np.argmax(separation(coarse))]
    fine = best + np.arange(-0.5, 0.5, 0.0005)
    values = separation(fine)
    return float(values.max()), float(fine[np.argmax(values)])


def test_untilted_particle_looks_down_110_columns():
    sample = random_supported_particle(rng=np.random.default_rng(1), max_tilt=0.0, distort=0.0, **SMALL)
    particle = sample.object_atoms.positions
    columns = find_columns(particle, tolerance=0.05)
    # [110] zone axis: atoms of a column share (x, y) exactly and repeat every a/√2 along z.
    lengths = np.bincount(columns)
    assert lengths.max() > 3
    for c in np.flatnonzero(lengths > 1)[:40]:
        member = particle[columns == c]
        assert np.ptp(member[:, 0]) < 1e-9 and np.ptp(member[:, 1]) < 1e-9
        np.testing.assert_allclose(np.diff(np.sort(member[:, 2])), AU / np.sqrt(2), atol=1e-9)
    # One particle site per projected column.
    particle_sites = sample.sites[sample.classes == 0]
    assert len(particle_sites) == columns.max() + 1 == len(particle) / lengths.mean()


@pytest.mark.parametrize("max_tilt, gap", [(0.0, 1.0), (5.0, 1.0), (3.0, 2.5)])
def test_particle_sits_gap_above_the_support_surface(max_tilt, gap):
    sample = random_supported_particle(
        rng=np.random.default_rng(2), max_tilt=max_tilt, gap=gap, distort=0.0, layers=(5, 7), cell=(50.0, 50.0)
    )
    particle, support = _parts(sample)
    assert len(support) > 100
    widest, _ = _widest_gap(particle, support)
    # The separating line exists (support entirely on one side) and is `gap` wide.
    np.testing.assert_allclose(widest, gap, atol=5e-3)


def test_classes_mask_and_object_atoms():
    sample = random_supported_particle(rng=np.random.default_rng(0), **SMALL)
    assert sample.class_names == ("particle", "support") and sample.mask_classes == (0,)
    assert set(sample.object_atoms.get_chemical_symbols()) == {"Au"}
    symbols = np.array(sample.atoms.get_chemical_symbols())
    assert set(symbols[len(sample.object_atoms):]) == {"Ce", "O"}
    np.testing.assert_array_equal(sample.object_atoms.positions, sample.atoms.positions[symbols == "Au"])
    np.testing.assert_array_equal(sample.object_atoms.cell[:], sample.atoms.cell[:])
    # Each site belongs to the atoms of its class.
    for cls, part in ((0, symbols == "Au"), (1, symbols != "Au")):
        xy = sample.atoms.positions[part, :2]
        sites = sample.sites[sample.classes == cls]
        assert np.linalg.norm(sites[:, None] - xy[None], axis=2).min(axis=1).max() < 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_everything_inside_the_cell_with_two_angstrom_vacuum(seed):
    sample = random_supported_particle(rng=np.random.default_rng(seed), max_tilt=8.0, **SMALL)
    atoms = sample.atoms
    assert atoms.pbc.all()
    np.testing.assert_allclose(atoms.cell[:], np.diag([40.0, 40.0, atoms.cell[2, 2]]))
    assert (atoms.positions >= 2.0 - 1e-9).all()
    assert (atoms.positions <= atoms.cell.lengths() - 2.0 + 1e-9).all()


def test_support_thickness_along_the_beam():
    sample = random_supported_particle(rng=np.random.default_rng(3), **{**SMALL, "support_thickness": 18.0})
    _, support = _parts(sample)
    extent = np.ptp(support[:, 2])
    # The block spans 18 Å along z; its atoms fill it to within one column repeat (a/√2 of CeO2).
    assert 18.0 - 5.47 / np.sqrt(2) <= extent <= 18.0


def test_tilt_keeps_columns_whole():
    # Same seed, same particle; with a tilt the atoms of a column spread more than the 0.3 Å
    # tolerance in projection, yet each column stays one site at its projected centre of mass.
    kwargs = dict(layers=(5, 6), cell=(70.0, 70.0), support=None, distort=0.0)
    flat = random_supported_particle(rng=np.random.default_rng(4), max_tilt=0.0, **kwargs)
    tilted = random_supported_particle(rng=np.random.default_rng(4), max_tilt=8.0, **kwargs)
    assert len(flat.object_atoms) == len(tilted.object_atoms)
    assert np.count_nonzero(tilted.classes == 0) == np.count_nonzero(flat.classes == 0)
    columns = find_columns(flat.object_atoms.positions, tolerance=0.05)
    xy = tilted.object_atoms.positions[:, :2]
    spread = max(np.ptp(xy[columns == c], axis=0).max() for c in range(columns.max() + 1))
    assert spread > 0.3
    centres = np.array([xy[columns == c].mean(axis=0) for c in range(columns.max() + 1)])
    distance = np.linalg.norm(centres[:, None] - tilted.sites[None], axis=2)
    assert distance.min(axis=1).max() < 1e-9


def test_same_seed_same_sample_and_different_seeds_differ():
    a = random_supported_particle(rng=np.random.default_rng(9), **SMALL)
    b = random_supported_particle(rng=np.random.default_rng(9), **SMALL)
    c = random_supported_particle(rng=np.random.default_rng(10), **SMALL)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
    np.testing.assert_array_equal(a.sites, b.sites)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert len(a.atoms) != len(c.atoms) or not np.array_equal(a.atoms.positions, c.atoms.positions)


def test_other_metals_and_supports():
    sample = random_supported_particle(
        "Pt", rng=np.random.default_rng(5), support="MgO", support_surface=(1, 0, 0), layers=(5, 6), cell=40
    )
    symbols = set(sample.atoms.get_chemical_symbols())
    assert symbols == {"Pt", "Mg", "O"}
    free = random_supported_particle("Ag", rng=np.random.default_rng(5), support=None, layers=4, cell=30)
    assert set(free.atoms.get_chemical_symbols()) == {"Ag"} and set(free.classes.tolist()) == {0}


def test_bad_options_raise_user_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(TemnnError, match="lattice_constant"):
        random_supported_particle("Fe", rng=rng)
    with pytest.raises(TemnnError, match="'layers'"):
        random_supported_particle(rng=rng, layers=(15, 7))
    with pytest.raises(TemnnError, match="CeO2"):
        random_supported_particle(rng=rng, support="Kryptonite")
    with pytest.raises(TemnnError, match="does not lie in the surface"):
        random_supported_particle(rng=rng, support_zone=(1, 1, 0))
