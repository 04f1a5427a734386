"""Column clustering, mass-weighted sites and column compositions on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import mx2
from hypothesis import given, settings
from hypothesis import strategies as st

from temnn.errors import TemnnError
from temnn.structures.sites import (
    column_counts,
    column_sites,
    composition_classes,
    composition_name,
    find_columns,
)


def test_two_atoms_closer_than_tolerance_form_one_site_at_their_centre_of_mass():
    atoms = Atoms("MoS", positions=[(5.0, 5.0, 0.0), (5.2, 5.0, 3.0)])
    sites, columns = column_sites(atoms)
    m_mo, m_s = atoms.get_masses()
    assert columns.tolist() == [0, 0]
    np.testing.assert_allclose(sites, [[(5.0 * m_mo + 5.2 * m_s) / (m_mo + m_s), 5.0]])


def test_two_atoms_farther_than_tolerance_form_two_sites():
    atoms = Atoms("SS", positions=[(5.0, 5.0, 0.0), (5.5, 5.0, 3.0)])
    sites, columns = column_sites(atoms)
    assert columns.tolist() == [0, 1]
    np.testing.assert_allclose(sites, [[5.0, 5.0], [5.5, 5.0]])


def test_tolerance_is_inclusive_and_chains_join_single_linkage():
    # 0.3 apart joins; a chain 0 -0.25- 1 -0.25- 2 is one column although 0 and 2 are 0.5 apart.
    assert find_columns(np.array([[0, 0], [0.3, 0]]), tolerance=0.3).tolist() == [0, 0]
    assert find_columns(np.array([[0, 0], [0.25, 0], [0.5, 0], [2, 0]])).tolist() == [0, 0, 0, 1]


def test_reference_positions_decide_membership_and_real_positions_the_site():
    # A "tilted" column whose atoms are 0.6 Å apart in projection stays one site with the
    # untilted reference, and its site is the centre of the real positions.
    atoms = Atoms("AuAu", positions=[(4.7, 5.0, 0.0), (5.3, 5.0, 3.0)])
    reference = np.array([(5.0, 5.0, 0.0), (5.0, 5.0, 3.0)])
    assert len(column_sites(atoms)[0]) == 2
    sites, columns = column_sites(atoms, reference=reference)
    assert columns.tolist() == [0, 0]
    np.testing.assert_allclose(sites, [[5.0, 5.0]])
    with pytest.raises(TemnnError, match="reference"):
        column_sites(atoms, reference=reference[:1])


def test_bad_tolerance_is_a_user_error():
    with pytest.raises(TemnnError, match="tolerance"):
        find_columns(np.zeros((2, 2)), tolerance=0.0)


@settings(max_examples=30, deadline=None)
@given(
    columns=st.lists(st.integers(1, 4), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_jittered_columns_on_a_coarse_grid_are_recovered(columns, seed):
    # Columns 1.5 Å apart on a grid, atoms jittered by < 0.1 Å: each column is found exactly.
    rng = np.random.default_rng(seed)
    centres = np.array([(1.5 * (i % 4), 1.5 * (i // 4)) for i in range(len(columns))])
    owner = np.repeat(np.arange(len(columns)), columns)
    xy = centres[owner] + rng.uniform(-0.07, 0.07, size=(len(owner), 2))
    order = rng.permutation(len(owner))
    found = find_columns(xy[order])
    # Same partition: atoms share a found column exactly when they share a true one.
    same_true = owner[order][:, None] == owner[order][None, :]
    same_found = found[:, None] == found[None, :]
    np.testing.assert_array_equal(same_true, same_found)


def _mos2_patch(repeat: int = 3) -> Atoms:
    patch = mx2("MoS2", a=3.18, thickness=3.19).repeat((repeat, repeat, 1))
    patch.positions += (10.0, 10.0, 5.0)
    return patch


def _class_counts(atoms: Atoms) -> dict[str, int]:
    _, columns = column_sites(atoms)
    counts = column_counts(atoms.get_chemical_symbols(), columns, ["Mo", "S"])
    names = [composition_name(c, ["Mo", "S"]) for c in counts]
    return {name: names.count(name) for name in set(names)}


def test_pristine_mos2_patch_has_one_1mo_column_per_mo_and_one_2s_per_s_pair():
    patch = _mos2_patch()
    n_mo = patch.get_chemical_symbols().count("Mo")
    n_s = patch.get_chemical_symbols().count("S")
    assert _class_counts(patch) == {"1Mo": n_mo, "2S": n_s // 2}


def test_removing_one_s_atom_makes_exactly_one_1s_column():
    patch = _mos2_patch()
    first_s = patch.get_chemical_symbols().index("S")
    del patch[first_s]
    n_mo = patch.get_chemical_symbols().count("Mo")
    n_s = patch.get_chemical_symbols().count("S")
    assert _class_counts(patch) == {"1Mo": n_mo, "2S": (n_s - 1) // 2, "1S": 1}


def test_composition_classes_list_pristine_columns_then_vacancy_forms():
    assert composition_classes([(1, 0), (0, 2)]) == [(1, 0), (0, 2), (0, 1)]
    # Janus MoSSe: 1Mo and 1S1Se columns, then 1S and 1Se; no empty class.
    classes = composition_classes([(1, 0, 0), (0, 1, 1)])
    assert [composition_name(c, ["Mo", "S", "Se"]) for c in classes] == ["1Mo", "1S1Se", "1S", "1Se"]
