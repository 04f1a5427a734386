"""Particle ids across frames on synthetic stacks with known motion, splits and merges."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import temnn
from temnn.io.tables import write_csv
from temnn.analysis.tracking import Tracker, plot_property, property_table, track
from temnn.errors import TemnnError

X, Y = np.mgrid[:200, :48]


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(X - cx, Y - cy) < r


def test_moving_disc_keeps_its_id_for_50_frames():
    r, step = 10.0, 3.0  # moves 0.3 radius per frame
    frames = (disc(20 + step * t, 24, r).astype(np.float32) for t in range(50))  # a generator: one pass only
    tracked = list(temnn.track(frames, min_spacing=10.0, sampling=1.0))
    assert len(tracked) == 50
    assert all(set(np.unique(f)) == {0, 1} for f in tracked)
    assert tracked[-1][int(20 + step * 49), 24] == 1


def test_vanishing_and_appearing_particles_get_distinct_ids():
    a, b = disc(40, 24, 10), disc(150, 24, 10)
    stack = np.stack([a, a, b, b | a, np.zeros_like(a), a])
    tracked = list(track(stack, min_spacing=10.0, sampling=1.0))
    ids = [sorted(set(np.unique(f)) - {0}) for f in tracked]
    # a = 1; a vanishes when b appears (2); a returns (3, ids are never reused); empty frame; a again (4)
    assert ids == [[1], [1], [2], [2, 3], [], [4]]
    assert tracked[3][150, 24] == 2 and tracked[3][40, 24] == 3


def test_overlap_threshold_relative_to_smaller_region():
    square = np.zeros((40, 40), np.int32)
    square[10:20, 10:20] = 1
    for shift, expected in ((4, 1), (6, 2)):  # 60 % and 40 % overlap
        tracker = Tracker(overlap=0.5)
        tracker.update(square)
        assert tracker.update(np.roll(square, shift, axis=0)).max() == expected
    # A small particle fully inside a large previous one overlaps 100 % (relative to the smaller).
    tracker = Tracker()
    tracker.update(square)
    small = np.zeros_like(square)
    small[12:14, 12:14] = 5
    assert tracker.update(small).max() == 1


def test_split_larger_part_keeps_the_id():
    tracker = Tracker()
    whole = np.zeros((40, 40), np.int32)
    whole[5:35, 10:20] = 1
    tracker.update(whole)
    parts = np.zeros_like(whole)
    parts[5:12, 10:20] = 1  # small part
    parts[14:35, 10:20] = 2  # large part
    out = tracker.update(parts)
    assert out[20, 15] == 1 and out[8, 15] == 2


def test_merge_takes_the_id_of_the_largest_overlap():
    tracker = Tracker()
    two = np.zeros((40, 40), np.int32)
    two[5:12, 10:20] = 1  # first seen: id 1, small
    two[14:35, 10:20] = 2  # id 2, large
    tracker.update(two)
    merged = np.zeros_like(two)
    merged[5:35, 10:20] = 9
    assert np.unique(tracker.update(merged)).tolist() == [0, 2]
    assert np.unique(tracker.update(merged)).tolist() == [0, 2]
    assert tracker.next_id == 3  # id 1 ended; no id was made for the merge


def test_one_frame_and_empty_stacks():
    one = list(track([disc(40, 24, 10)], min_spacing=10.0, sampling=1.0))
    assert len(one) == 1 and one[0].max() == 1
    assert list(track([], min_spacing=10.0, sampling=1.0)) == []
    empty = list(track(np.zeros((3, 20, 20)), min_spacing=10.0, sampling=1.0))
    assert [f.max() for f in empty] == [0, 0, 0]


def test_arguments_checked_before_the_first_frame():
    with pytest.raises(TemnnError, match="min_spacing"):
        track(iter([]), min_spacing=-10.0, sampling=1.0)
    with pytest.raises(TemnnError, match="overlap"):
        track(iter([]), min_spacing=10.0, sampling=1.0, overlap=0)
    tracker = Tracker()
    tracker.update(np.zeros((5, 5), np.int32))
    with pytest.raises(TemnnError, match="shape"):
        tracker.update(np.zeros((6, 5), np.int32))


def test_property_table_csv_and_plot(tmp_path):
    sampling, step = 0.5, 3.0  # Å/px, px per frame
    frames = [disc(40 + step * t, 24, 12) for t in range(4)] + [disc(40 + step * 4, 24, 12) | disc(160, 24, 12)]
    rows = property_table(track(frames, min_spacing=10.0, sampling=sampling), sampling, frame_interval=0.4)
    assert [(r["frame"], r["id"]) for r in rows] == [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (4, 2)]
    first = [r for r in rows if r["id"] == 1]
    assert np.isnan(first[0]["displacement_nm"])
    assert [r["displacement_nm"] for r in first[1:]] == pytest.approx([step * sampling / 10] * 4)
    assert rows[-1]["time_s"] == pytest.approx(1.6)
    assert first[0]["area_nm2"] == pytest.approx(disc(40, 24, 12).sum() * (sampling / 10) ** 2)
    path = tmp_path / "particles.csv"
    write_csv(rows, path)
    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert len(read) == 6 and float(read[2]["com_x_nm"]) == pytest.approx(first[2]["com_x_nm"])
    ax = plot_property(rows, ids=[2], path=tmp_path / "area.png")
    assert len(ax.lines) == 1 and ax.get_ylabel() == "area [nm²]" and ax.get_xlabel() == "time [s]"
    assert (tmp_path / "area.png").stat().st_size > 0
    with pytest.raises(TemnnError, match="column"):
        plot_property(rows, name="volume_nm3")
