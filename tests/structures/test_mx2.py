"""MX2 flakes: classes, defects, tilt robustness, graphene support, determinism, user errors."""

from __future__ import annotations

import numpy as np
import pytest

from temnn.errors import TemnnError
from temnn.structures.mx2 import MX2_LATTICE, draw_support_rotation, mx2_unit_cell, random_mx2_flake

CELL = (26.0, 26.0)


def _counts(sample) -> dict[str, int]:
    return {name: int(np.count_nonzero(sample.classes == i)) for i, name in enumerate(sample.class_names)}


def test_default_is_mos2_with_its_three_column_classes():
    sample = random_mx2_flake(rng=np.random.default_rng(0), cell=CELL)
    assert sample.class_names == ("1Mo", "2S", "1S")
    assert set(sample.atoms.get_chemical_symbols()) == {"Mo", "S"}
    assert sample.object_atoms is None and sample.mask_classes is None


@pytest.mark.parametrize("seed", [0, 1])
def test_one_1s_column_per_vacancy_and_stoichiometry_without_holes(seed):
    sample = random_mx2_flake(rng=np.random.default_rng(seed), cell=CELL, vacancies=0.15, holes=0.0, max_tilt=0.0)
    counts = _counts(sample)
    symbols = sample.atoms.get_chemical_symbols()
    assert symbols.count("Mo") == counts["1Mo"]
    assert symbols.count("S") == 2 * counts["2S"] + counts["1S"]
    # Without holes no S column disappears, so the pristine flake had 2·(2S + 1S) sulphur atoms
    # and each vacancy left exactly one 1S column.
    n_sulphur = 2 * (counts["2S"] + counts["1S"])
    assert abs(counts["1S"] - 0.15 * n_sulphur) <= 0.5


def test_vacancy_range_is_drawn_per_sample():
    fractions = []
    for seed in range(6):
        counts = _counts(random_mx2_flake(rng=np.random.default_rng(seed), cell=CELL, vacancies=(0.0, 0.3), holes=0.0))
        fractions.append(counts["1S"] / (2 * (counts["2S"] + counts["1S"])))
    assert max(fractions) - min(fractions) > 0.05
    assert all(0.0 <= f <= 0.3 + 0.02 for f in fractions)


def test_sites_sit_on_the_columns_of_an_unperturbed_flake():
    sample = random_mx2_flake(rng=np.random.default_rng(2), cell=CELL, vacancies=0.0, holes=0.0, distort=0.0, max_tilt=0.0)
    xy = sample.atoms.positions[:, :2]
    distance = np.linalg.norm(sample.sites[:, None] - xy[None], axis=2)
    assert distance.min(axis=1).max() < 1e-9  # every site is on an atom column
    assert (distance.min(axis=0) < 1e-9).all()  # every atom is on a site
    # Neighbouring columns of 2H MoS2 are a/√3 apart in projection.
    sites = sample.sites
    gaps = np.linalg.norm(sites[:, None] - sites[None], axis=2) + np.eye(len(sites)) * 1e9
    nearest = gaps.min(axis=1)
    spacing = MX2_LATTICE["MoS2"][0] / np.sqrt(3)
    assert abs(nearest.min() - spacing) < 1e-6
    assert np.count_nonzero(np.abs(nearest - spacing) > 1e-6) <= 2  # at most a corner column or two


def test_tilt_keeps_the_columns_and_moves_the_sites_to_the_projected_centre():
    # Same seed, different max_tilt: the same flake, tilted. At up to 10° a 2S pair spreads by up
    # to 0.55 Å, more than the 0.3 Å tolerance; the columns must still be 2S.
    flat = random_mx2_flake(rng=np.random.default_rng(5), cell=40, max_tilt=0.0, distort=0.0, radius=12)
    tilted = random_mx2_flake(rng=np.random.default_rng(5), cell=40, max_tilt=10.0, distort=0.0, radius=12)
    assert _counts(flat) == _counts(tilted)
    spread = _max_2s_spread(tilted)
    assert spread > 0.3
    # Each 2S site is the midpoint of its two S atoms (equal masses).
    s_xy = tilted.atoms.positions[np.array(tilted.atoms.get_chemical_symbols()) == "S", :2]
    for site in tilted.sites[tilted.classes == 1][:10]:
        pair = s_xy[np.argsort(np.linalg.norm(s_xy - site, axis=1))[:2]]
        np.testing.assert_allclose(pair.mean(axis=0), site, atol=1e-9)


def _max_2s_spread(sample) -> float:
    s_xy = sample.atoms.positions[np.array(sample.atoms.get_chemical_symbols()) == "S", :2]
    site_to_s = np.linalg.norm(sample.sites[sample.classes == 1][:, None] - s_xy[None], axis=2)
    return float(2 * np.sort(site_to_s, axis=1)[:, 0].max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_atom_is_inside_the_cell_with_the_vacuum_margin(seed):
    sample = random_mx2_flake(rng=np.random.default_rng(seed), cell=(24.0, 30.0), max_tilt=10.0, radius=20, graphene=seed == 2)
    atoms = sample.atoms
    assert atoms.pbc.all()
    np.testing.assert_allclose(atoms.cell[:], np.diag([24.0, 30.0, atoms.cell[2, 2]]))
    assert (atoms.positions >= 2.0 - 1e-9).all()
    assert (atoms.positions <= atoms.cell.lengths() - 2.0 + 1e-9).all()


def test_split_1s_separates_upper_and_lower_layer_vacancies():
    kwargs = dict(cell=CELL, vacancies=0.4, holes=0.0, max_tilt=0.0, distort=0.0)
    plain = random_mx2_flake(rng=np.random.default_rng(3), **kwargs)
    split = random_mx2_flake(rng=np.random.default_rng(3), split_1s=True, **kwargs)
    assert split.class_names == ("1Mo", "2S", "1S-top", "1S-bottom")
    np.testing.assert_array_equal(plain.sites, split.sites)
    single = plain.classes == 2
    np.testing.assert_array_equal(np.isin(split.classes, (2, 3)), single)
    # Top = the upper S layer (larger z) in the untilted flake.
    positions = split.atoms.positions
    metal_z = positions[np.array(split.atoms.get_chemical_symbols()) == "Mo", 2].mean()
    for site, cls in zip(split.sites[single], split.classes[single]):
        atom = np.argmin(np.linalg.norm(positions[:, :2] - site, axis=1))
        assert (positions[atom, 2] > metal_z) == (cls == 2)
    assert {2, 3} <= set(split.classes.tolist())


def test_graphene_support_lies_below_at_the_drawn_distance_and_has_no_sites():
    for seed in range(3):
        sample = random_mx2_flake(rng=np.random.default_rng(seed), cell=CELL, graphene=True, max_tilt=0.0, distort=0.0)
        symbols = np.array(sample.atoms.get_chemical_symbols())
        z = sample.atoms.positions[:, 2]
        assert len(np.unique(z[symbols == "C"].round(9))) == 1
        distance = z[symbols == "S"].min() - z[symbols == "C"].max()
        assert 3.3 <= distance <= 7.0
        # The object is the MoS2 flake alone, in the same cell; sites are its columns only.
        assert set(sample.object_atoms.get_chemical_symbols()) == {"Mo", "S"}
        assert len(sample.object_atoms) == np.count_nonzero(symbols != "C")
        np.testing.assert_array_equal(sample.object_atoms.cell[:], sample.atoms.cell[:])
        mos2_xy = sample.object_atoms.positions[:, :2]
        assert np.linalg.norm(sample.sites[:, None] - mos2_xy[None], axis=2).min(axis=1).max() < 1e-9
        counts = _counts(sample)
        assert counts["1Mo"] + counts["2S"] + counts["1S"] == len(sample.sites)


def test_graphene_lattice_is_rotated_by_the_publication_i_cases():
    # Measure the graphene-to-MoS2 lattice rotation (mod 60°) from the C-C bond and Mo-Mo
    # directions in the built structures: the fixed cases 0°, 15° and 30° must all appear exactly.
    relative = []
    for seed in range(12):
        sample = random_mx2_flake(
            rng=np.random.default_rng(seed), cell=CELL, graphene=True, support_distance=5.0, max_tilt=0.0, distort=0.0
        )
        symbols = np.array(sample.atoms.get_chemical_symbols())
        angle_c = _bond_angle(sample.atoms.positions[symbols == "C"], 1.42)  # bonds are 30° off the lattice
        angle_mo = _bond_angle(sample.atoms.positions[symbols == "Mo"], MX2_LATTICE["MoS2"][0])
        relative.append((angle_c - 30.0 - angle_mo) % 60.0)
    relative = np.array(relative)
    for case in (0.0, 15.0, 30.0):
        distance = np.abs((relative - case + 30.0) % 60.0 - 30.0)
        assert distance.min() < 1e-6, f"no graphene rotated by {case}° in {relative.round(3)}"


def _bond_angle(positions: np.ndarray, length: float) -> float:
    d = positions[None, :, :2] - positions[:, None, :2]
    d = d[np.abs(np.linalg.norm(d, axis=2) - length) < 0.01]
    return float(np.degrees(np.arctan2(d[0, 1], d[0, 0])) % 60.0)


def test_support_rotation_cases_appear_a_quarter_each():
    rng = np.random.default_rng(0)
    angles = np.array([draw_support_rotation(rng=rng) for _ in range(4000)])
    for case in (0.0, 15.0, 30.0):
        assert abs(np.mean(angles == case) - 0.25) < 0.03
    random = angles[~np.isin(angles, (0.0, 15.0, 30.0))]
    assert abs(len(random) / 4000 - 0.25) < 0.03
    assert random.min() >= 0.0 and random.max() < 60.0 and np.std(random) > 10.0


def test_same_seed_same_sample_and_different_seeds_differ():
    a = random_mx2_flake(rng=np.random.default_rng(7), cell=CELL, graphene=True)
    b = random_mx2_flake(rng=np.random.default_rng(7), cell=CELL, graphene=True)
    c = random_mx2_flake(rng=np.random.default_rng(8), cell=CELL, graphene=True)
    np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
    np.testing.assert_array_equal(a.atoms.numbers, b.atoms.numbers)
    np.testing.assert_array_equal(a.sites, b.sites)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert len(a.atoms) != len(c.atoms) or not np.array_equal(a.atoms.positions, c.atoms.positions)


def test_other_compounds_use_their_lattice_and_class_names():
    unit = mx2_unit_cell("W", "Se")
    a, thickness = MX2_LATTICE["WSe2"]
    np.testing.assert_allclose(np.linalg.norm(unit.cell[0]), a)
    np.testing.assert_allclose(np.ptp(unit.positions[:, 2]), thickness)
    custom = mx2_unit_cell("Mo", "S", a=3.16)
    np.testing.assert_allclose(np.linalg.norm(custom.cell[0]), 3.16)
    sample = random_mx2_flake(rng=np.random.default_rng(0), metal="W", chalcogen="Se", cell=CELL, split_1s=True)
    assert sample.class_names == ("1W", "2Se", "1Se-top", "1Se-bottom")


def test_bad_options_raise_user_errors_naming_the_option():
    rng = np.random.default_rng(0)
    with pytest.raises(TemnnError, match="'vacancies'"):
        random_mx2_flake(rng=rng, vacancies=0.7)
    with pytest.raises(TemnnError, match="'holes' is a reversed range"):
        random_mx2_flake(rng=rng, holes=(0.1, 0.0))
    with pytest.raises(TemnnError, match="'cell'"):
        random_mx2_flake(rng=rng, cell=(-5, 10))
    with pytest.raises(TemnnError, match="'max_tilt'"):
        random_mx2_flake(rng=rng, max_tilt=120)
    with pytest.raises(TemnnError, match="'a' and 'thickness'"):
        mx2_unit_cell("Nb", "S")
    with pytest.raises(TemnnError, match="'metal'"):
        mx2_unit_cell("Xx", "S")
    with pytest.raises(TemnnError, match="too small"):
        random_mx2_flake(rng=rng, cell=(5, 5))


def test_all_holes_give_an_empty_but_valid_sample():
    sample = random_mx2_flake(rng=np.random.default_rng(0), cell=CELL, holes=1.0, graphene=True)
    assert set(sample.atoms.get_chemical_symbols()) <= {"C"}
    assert sample.sites.shape == (0, 2) and sample.classes.shape == (0,)
    assert len(sample.object_atoms) == 0
