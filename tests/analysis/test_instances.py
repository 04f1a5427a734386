"""Pseudo-instance segmentation of hand-built particle masks."""

from __future__ import annotations

import numpy as np
import pytest

import temnn
from temnn.analysis.instances import INSTANCE_PROPERTIES, Instance2D, Slice, label_instances, register_property
from temnn.errors import TemnnError

X, Y = np.mgrid[:120, :80]


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(X - cx, Y - cy) < r


@pytest.mark.parametrize("distance", [40, 36, 30])
def test_touching_and_overlapping_discs_come_apart(distance):
    # Two discs of radius 20 px whose centres are 40 (touching), 36 or 30 px apart (overlapping).
    mask = disc(30, 40, 20) | disc(30 + distance, 40, 20)
    labels = temnn.label_instances(mask, sampling=1.0, min_spacing=15.0)  # 15 Å = 15 px at 1 Å/px
    assert labels.max() == 2
    assert labels[30, 40] != labels[30 + distance, 40]
    assert set(np.unique(labels[mask])) == {1, 2}  # every particle pixel belongs to one of them
    areas = np.bincount(labels.ravel())[1:]
    assert areas.min() / areas.max() > 0.95  # the neck splits them in halves
    assert (labels[~mask] == 0).all()


def test_elongated_particle_stays_one():
    # The distance map of a rod has a flat ridge; it must seed one watershed, not several.
    rod = np.zeros((200, 60), dtype=bool)
    rod[20:180, 15:45] = True
    assert label_instances(rod, sampling=1.0, min_spacing=10.0).max() == 1


def test_area_in_nm2_from_sampling():
    r, sampling = 20.0, 0.5  # px, Å/px
    labels = label_instances(disc(60, 40, r), sampling=sampling, min_spacing=5.0)
    (inst,) = Slice.from_labels(labels, sampling)
    assert inst.area == pytest.approx(np.pi * r**2 * sampling**2 / 100, rel=0.02)
    assert inst.properties["equivalent_diameter_nm"] == pytest.approx(2 * r * sampling / 10, rel=0.01)
    assert inst.centre_of_mass == pytest.approx((60, 40), abs=0.01)
    assert (inst.properties["com_x_nm"], inst.properties["com_y_nm"]) == pytest.approx((3.0, 2.0), abs=1e-3)


def test_small_regions_removed_and_threshold():
    prob = np.zeros((120, 80))
    prob[disc(40, 40, 20)] = 0.8
    prob[disc(100, 60, 4)] = 0.9  # 50 px² < (1 nm)² = 100 px² at 1 Å/px
    labels = label_instances(prob, sampling=1.0, min_spacing=10.0)
    assert labels.max() == 1 and labels[100, 60] == 0 and labels[40, 40] == 1
    assert label_instances(prob, sampling=1.0, min_spacing=10.0, threshold=0.85).max() == 0  # the big one: below
    assert label_instances(np.zeros((10, 10)), sampling=1.0, min_spacing=10.0).max() == 0
    assert label_instances(np.zeros((10, 10)), sampling=1.0, min_spacing=10.0).dtype == np.int32


def test_bad_arguments():
    with pytest.raises(TemnnError, match="min_spacing"):
        label_instances(disc(40, 40, 20), sampling=1.0, min_spacing=0.0)
    with pytest.raises(TemnnError, match="sampling"):
        label_instances(disc(40, 40, 20), sampling=-1, min_spacing=10.0)
    with pytest.raises(TemnnError, match="one"):
        label_instances(np.zeros((2, 8, 8)), sampling=1.0, min_spacing=10.0)


def test_slice_and_instance_objects():
    labels = np.zeros((40, 30), dtype=np.int32)
    labels[2:10, 3:8] = 7
    labels[20:30, 10:25] = 3
    frame = Slice.from_labels(labels, 2.0, index=5)
    assert frame.ids == [3, 7] and len(frame) == 2
    seven = frame.instance(7)
    assert seven.bbox == (2, 3, 10, 8) and seven.mask.all()
    assert seven.area == pytest.approx(8 * 5 * 0.2**2)
    assert (seven.full_mask(labels.shape) == (labels == 7)).all()
    assert (frame.labels() == labels).all()
    with pytest.raises(KeyError):
        frame.instance(1)
    frame.add_instance(Instance2D(1, (0, 0, 1, 1), np.ones((1, 1), bool), {"area_nm2": 0.04}))
    assert frame.ids == [1, 3, 7]
    with pytest.raises(TemnnError, match="already"):
        frame.add_instance(Instance2D(1, (0, 0, 1, 1), np.ones((1, 1), bool)))


def test_register_property():
    register_property("bbox_width_nm", lambda r, s: (r.bbox[2] - r.bbox[0]) * s / 10)
    try:
        labels = np.zeros((20, 20), dtype=np.int32)
        labels[5:15, 2:4] = 1
        (inst,) = Slice.from_labels(labels, 1.0)
        assert inst.properties["bbox_width_nm"] == pytest.approx(1.0)
    finally:
        del INSTANCE_PROPERTIES["bbox_width_nm"]
