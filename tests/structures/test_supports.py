"""Oxide supports: orientation, termination and plane spacings against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from temnn.errors import TemnnError
from temnn.structures.supports import default_zone_axis, interface_rotation, support_bulk, support_slab


def _planes(slab, element=None):
    symbols = np.array(slab.get_chemical_symbols())
    y = slab.positions[:, 1] if element is None else slab.positions[symbols == element, 1]
    return np.unique(np.round(y, 6))[::-1]


def test_interface_rotation_sends_normal_to_y_and_zone_axis_to_z():
    a = 5.47
    rotation = interface_rotation(np.eye(3) * a, (1, 1, 1), (1, -1, 0))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rotation), 1.0)
    np.testing.assert_allclose(rotation @ (np.array([1, 1, 1]) / np.sqrt(3)), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rotation @ (np.array([1, -1, 0]) / np.sqrt(2)), [0, 0, 1], atol=1e-12)
    # A non-cubic cell: the (001) normal of a hexagonal cell is its c axis whatever a is.
    hexagonal = bulk("Mg", "hcp", a=3.2, c=5.2).cell[:]
    rotation = interface_rotation(hexagonal, (0, 0, 1), (1, 0, 0))
    np.testing.assert_allclose(rotation @ np.array([0, 0, 1.0]), [0, 1, 0], atol=1e-12)


def test_ceo2_111_is_oxygen_terminated_o_ce_o_trilayers():
    a = 5.47
    slab = support_slab(support_bulk("CeO2"), surface=(1, 1, 1), x=(-12, 12), depth=12, thickness=12)
    d111 = a / np.sqrt(3)
    planes = _planes(slab)
    assert planes[0] == 0.0
    assert set(np.array(slab.get_chemical_symbols())[np.isclose(slab.positions[:, 1], 0.0)]) == {"O"}
    # Fluorite along [111]: O at -d/4... Ce at 0, O at +d/4 (trilayer), then a d/2 gap to the next O.
    np.testing.assert_allclose(-np.diff(planes[:4]), [d111 / 4, d111 / 4, d111 / 2], atol=1e-6)
    np.testing.assert_allclose(-np.diff(_planes(slab, "Ce")), d111, atol=1e-6)
    # The top trilayer is complete: O, Ce, O planes.
    symbols = np.array(slab.get_chemical_symbols())
    for plane, element in zip(planes[:3], ("O", "Ce", "O")):
        assert set(symbols[np.isclose(slab.positions[:, 1], plane, atol=1e-6)]) == {element}
    assert slab.positions[:, 1].min() >= -12 - 1e-9
    # Columns along the beam ([1-10]) repeat every a/√2.
    z = np.sort(slab.positions[np.all(np.isclose(slab.positions[:, :2], slab.positions[0, :2]), axis=1), 2])
    np.testing.assert_allclose(np.diff(z), a / np.sqrt(2), atol=1e-6)


def test_mgo_100_planes_hold_both_ions_and_are_half_a_lattice_constant_apart():
    slab = support_slab(support_bulk("MgO"), surface=(1, 0, 0), x=(-10, 10), depth=8, thickness=8)
    planes = _planes(slab)
    np.testing.assert_allclose(-np.diff(planes), 4.21 / 2, atol=1e-6)
    top = np.array(slab.get_chemical_symbols())[np.isclose(slab.positions[:, 1], 0.0)]
    assert set(top) == {"Mg", "O"}


def test_bulk_file_gives_the_same_slab_as_the_named_support(tmp_path):
    path = tmp_path / "zro2.cif"
    write(path, bulk("ZrO2", "fluorite", a=5.09, cubic=True))
    kwargs = dict(surface=(1, 1, 1), x=(-8, 8), depth=8, thickness=8)
    from_file = support_slab(support_bulk(path), **kwargs)
    named = support_slab(support_bulk("ZrO2"), **kwargs)
    assert from_file.get_chemical_formula() == named.get_chemical_formula()
    order = lambda s: s.positions[np.lexsort(np.round(s.positions, 5).T)]  # noqa: E731
    np.testing.assert_allclose(order(from_file), order(named), atol=1e-6)


def test_zone_axes_obey_the_weiss_zone_law():
    assert default_zone_axis((1, 1, 1)) == (1, -1, 0)
    assert default_zone_axis((1, 0, 0)) == (0, 1, -1)
    with pytest.raises(TemnnError, match="support_zone"):
        default_zone_axis((1, 2, 3))
    with pytest.raises(TemnnError, match="does not lie in the surface"):
        interface_rotation(np.eye(3), (1, 1, 1), (1, 1, 0))


def test_unknown_support_is_a_user_error(tmp_path):
    with pytest.raises(TemnnError, match="CeO2"):
        support_bulk("Unobtainium")
    flat = tmp_path / "flat.xyz"
    flat.write_text("1\n\nO 0 0 0\n")
    with pytest.raises(TemnnError, match="3D cell"):
        support_bulk(flat)
