"""Generic 2D flakes: cutting, defect accounting, unit cells from files, placement in the cell."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import graphene, mx2
from ase.io import write

from temnn.errors import TemnnError
from temnn.structures.flake import cut_flake, flake_classes, random_flake, read_unit_cell


def _keys(atoms: Atoms) -> set[tuple]:
    """Atoms identified by their (untilted) reference position."""
    return {tuple(np.round(p, 6)) for p in atoms.arrays["reference"]}


def _column_members(atoms: Atoms) -> dict[int, list[str]]:
    members: dict[int, list[str]] = {}
    for column, symbol in zip(atoms.arrays["column"], atoms.get_chemical_symbols()):
        members.setdefault(int(column), []).append(symbol)
    return members


@pytest.mark.parametrize("vacancies, holes", [(0.1, 0.0), (0.2, 0.05), (0.0, 0.1)])
def test_cut_flake_realises_the_requested_vacancy_and_hole_fractions(vacancies, holes):
    unit = mx2("MoS2")
    # The same generator state draws the same outline, so the pristine flake is the reference.
    pristine = cut_flake(unit, rng=np.random.default_rng(4), radius=14.0)
    defective = cut_flake(unit, rng=np.random.default_rng(4), radius=14.0, vacancies=vacancies, holes=holes, vacancy_elements=["S"])
    assert _keys(defective) <= _keys(pristine)

    pristine_columns = _column_members(pristine)
    n_columns = len(pristine_columns)
    n_sulphur = pristine.get_chemical_symbols().count("S")
    assert sorted(map(sorted, pristine_columns.values())) == sorted(
        [["Mo"]] * sum(m == ["Mo"] for m in pristine_columns.values()) + [["S", "S"]] * (n_sulphur // 2)
    )
    members = _column_members(defective)
    n_1s = sum(m == ["S"] for m in members.values())
    n_2s = sum(m == ["S", "S"] for m in members.values())
    n_mo = sum(m == ["Mo"] for m in members.values())
    assert n_1s + n_2s + n_mo == len(members)  # no other column kinds
    # Holes empty whole columns; vacancies remove one S from distinct 2S columns (never a column).
    assert n_columns - len(members) == round(holes * n_columns)
    assert n_1s == round(vacancies * n_sulphur)
    # Mo:S stoichiometry follows from the counts.
    symbols = defective.get_chemical_symbols()
    assert symbols.count("Mo") == n_mo and symbols.count("S") == 2 * n_2s + n_1s


def test_vacancies_are_restricted_to_the_given_elements():
    unit = graphene("BN", a=2.50)
    flake = cut_flake(unit, rng=np.random.default_rng(1), radius=12.0, vacancies=0.3, vacancy_elements=["N"])
    pristine = cut_flake(unit, rng=np.random.default_rng(1), radius=12.0)
    count = lambda atoms, e: atoms.get_chemical_symbols().count(e)  # noqa: E731
    assert count(flake, "B") == count(pristine, "B")
    assert count(pristine, "N") - count(flake, "N") == round(0.3 * count(pristine, "N"))


def test_flake_outline_is_convex_and_inside_the_disc():
    flake = cut_flake(mx2("MoS2"), rng=np.random.default_rng(2), radius=10.0)
    assert np.linalg.norm(flake.positions[:, :2], axis=1).max() <= 10.0 + 0.3
    assert len(flake) > 0


def test_generic_flake_from_a_unit_cell_file(tmp_path):
    path = tmp_path / "hbn.json"
    write(path, graphene("BN", a=2.50, vacuum=5.0))
    sample = random_flake(path, rng=np.random.default_rng(3), cell=(25, 25), vacancies=0.0, holes=0.0, max_tilt=0.0, distort=0.0)
    assert sample.class_names == ("1B", "1N")
    symbols = np.array(sample.atoms.get_chemical_symbols())
    # Every atom is its own column; sites sit on the atoms (no tilt, no perturbation).
    assert len(sample.sites) == len(sample.atoms)
    assert sorted(np.bincount(sample.classes).tolist()) == sorted([np.sum(symbols == "B"), np.sum(symbols == "N")])
    nearest = np.linalg.norm(sample.sites[:, None] - sample.atoms.positions[None, :, :2], axis=2).min(axis=1)
    assert nearest.max() < 1e-9
    assert sample.object_atoms is None and sample.mask_classes is None


def test_generic_flake_of_mos2_gives_the_mos2_classes(tmp_path):
    path = tmp_path / "mos2.traj"
    write(path, mx2("MoS2", vacuum=4.0))
    sample = random_flake(path, rng=np.random.default_rng(0), cell=25, vacancy_elements=["S"], vacancies=0.2)
    assert sample.class_names == ("1Mo", "2S", "1S")
    assert flake_classes(read_unit_cell(path))[0] == ["Mo", "S"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tilted_rotated_flake_stays_inside_the_cell_with_vacuum_and_whole_columns(seed):
    cell, vacuum = (22.0, 26.0), 2.0
    sample = random_flake(
        mx2("MoS2"), rng=np.random.default_rng(seed), cell=cell, vacancies=0.0, holes=0.0, max_tilt=30.0, radius=16.0, vacuum=vacuum
    )
    atoms = sample.atoms
    assert atoms.pbc.all() and np.allclose(atoms.cell[:], np.diag(atoms.cell.lengths()))
    np.testing.assert_allclose(atoms.cell.lengths()[:2], cell)
    assert (atoms.positions >= vacuum - 1e-9).all()
    assert (atoms.positions <= atoms.cell.lengths() - vacuum + 1e-9).all()
    # The radius exceeds the cell, so the flake is cut at the cell edges. The cut removes whole
    # columns: without vacancies no 1S column appears, although a tilt of up to 30° spreads a 2S
    # pair by up to 1.6 Å across an edge (cropping atom by atom leaves 1S columns for seed 0).
    assert sample.class_names == ("1Mo", "2S", "1S")
    assert np.count_nonzero(sample.classes == 2) == 0
    assert len(atoms) == np.count_nonzero(sample.classes == 0) + 2 * np.count_nonzero(sample.classes == 1)


def test_unit_cell_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(TemnnError, match="not found"):
        random_flake(tmp_path / "missing.cif", rng=np.random.default_rng(0))
    bad = tmp_path / "bad.xyz"
    bad.write_text("this is not a structure\n")
    with pytest.raises(TemnnError, match="bad.xyz"):
        random_flake(bad, rng=np.random.default_rng(0))
    upright = Atoms("C2", positions=[(0, 0, 0), (1.2, 0, 0.7)], cell=[[2.46, 0, 0], [0, 0, 2.46], [0, 10, 0]])
    with pytest.raises(TemnnError, match="xy plane"):
        read_unit_cell(upright)
    with pytest.raises(TemnnError, match="vacancy_elements"):
        random_flake(graphene(), rng=np.random.default_rng(0), vacancy_elements=["N"])
    with pytest.raises(TemnnError, match="hull_points"):
        random_flake(graphene(), rng=np.random.default_rng(0), hull_points=2)
