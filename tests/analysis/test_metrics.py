"""Pixel and atomic F1-Scores on hand-built cases; exit-wave RMSE in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial.distance import cdist

import temnn
from temnn.analysis.metrics import Score, atomic_f1, atomic_scores, exit_wave_rmse, match_positions, pixel_scores
from temnn.analysis.peaks import Peaks
from temnn.errors import TemnnError


def test_score_formulas_and_empty_conventions():
    s = Score(tp=6, fp=2, fn=4)
    assert s.precision == pytest.approx(6 / 8)
    assert s.recall == pytest.approx(6 / 10)
    assert s.f1 == pytest.approx(6 / (6 + 3))
    assert s.f1 == pytest.approx(2 * s.precision * s.recall / (s.precision + s.recall))
    assert Score(0, 0, 0).f1 == 1.0  # empty prediction of an empty truth is perfect
    nothing_predicted = Score(0, 0, 5)
    assert (nothing_predicted.precision, nothing_predicted.recall, nothing_predicted.f1) == (1.0, 0.0, 0.0)
    assert Score(1, 2, 3) + Score(4, 5, 6) == Score(5, 7, 9)


def test_pixel_scores_hand_counted():
    truth = np.zeros((2, 4, 4))
    truth[0, :2, :] = 1  # 8 pixels
    truth[1, 3, 3] = 1  # 1 pixel
    pred = np.zeros((2, 4, 4))
    pred[0, 1:3, :] = 0.7  # rows 1-2: 4 TP (row 1), 4 FP (row 2); row 0 is 4 FN
    pred[0, 0, 0] = 0.5  # exactly at the threshold counts as positive: +1 TP, -1 FN
    pred[1, 3, 3] = 0.49  # below the threshold: 1 FN
    s0, s1 = pixel_scores(pred, truth, threshold=0.5)
    assert (s0.tp, s0.fp, s0.fn) == (5, 4, 3)
    assert s0.f1 == pytest.approx(5 / (5 + 0.5 * 7))
    assert (s1.tp, s1.fp, s1.fn) == (0, 0, 1)
    assert pixel_scores(pred[1], truth[1], threshold=0.4)[0].f1 == 1.0


def test_pixel_scores_shape_mismatch():
    with pytest.raises(TemnnError, match="same shape"):
        pixel_scores(np.zeros((3, 4)), np.zeros((4, 3)))


LATTICE = np.array([[10.0, 10.0], [40.0, 10.0], [10.0, 40.0], [40.0, 40.0]])


def test_atomic_f1_perfect_shifted_missing_extra():
    # Positions in pixels of 0.1 Å: the default radius of 1 Å is 10 px.
    assert temnn.atomic_f1(LATTICE, LATTICE, sampling=0.1) == 1.0
    assert atomic_f1(LATTICE + [6.0, 7.0], LATTICE, sampling=0.1) == 1.0  # 9.2 px < 10 px
    assert atomic_f1(LATTICE + [8.0, 7.0], LATTICE, sampling=0.1) == 0.0  # 10.6 px > 10 px
    assert atomic_f1(LATTICE + [10.0, 0.0], LATTICE, radius=1.0, sampling=0.1) == 1.0  # the radius is inclusive
    missing = atomic_scores(LATTICE[:3], LATTICE, sampling=0.1).overall
    assert (missing.tp, missing.fp, missing.fn) == (3, 0, 1)
    extra = atomic_scores(np.vstack([LATTICE, [[25.0, 25.0]]]), LATTICE, sampling=0.1).overall
    assert (extra.tp, extra.fp, extra.fn) == (4, 1, 0)
    assert extra.f1 == pytest.approx(4 / 4.5)
    assert atomic_f1(np.zeros((0, 2)), np.zeros((0, 2)), sampling=0.1) == 1.0
    assert atomic_f1(np.zeros((0, 2)), LATTICE, sampling=0.1) == 0.0


def test_optimal_assignment_beats_greedy():
    # p0 is nearest to t0, but t0 is also the only column p1 can reach: greedy nearest-first
    # pairs (p0, t0) and leaves p1 and t1 unmatched (1 TP); the optimum is (p0, t1), (p1, t0).
    true = np.array([[0.0, 0.0], [6.0, 0.0]])
    pred = np.array([[1.0, 0.0], [-4.0, 0.0]])
    pi, ti = match_positions(pred, true, radius=5.5)
    assert sorted(zip(pi.tolist(), ti.tolist())) == [(0, 1), (1, 0)]
    assert atomic_scores(pred, true, radius=0.55, sampling=0.1).overall.tp == 2


points = st.lists(st.tuples(st.floats(0, 30), st.floats(0, 30)), max_size=25).map(
    lambda p: np.array(p, dtype=float).reshape(-1, 2))


@settings(max_examples=40, deadline=None)
@given(pred=points, true=points, radius=st.floats(0.5, 8.0))
def test_matching_is_maximum_and_minimum_distance(pred, true, radius):
    pi, ti = match_positions(pred, true, radius=radius)
    assert len(set(pi.tolist())) == len(pi) and len(set(ti.tolist())) == len(ti)
    if len(pred) == 0 or len(true) == 0:
        assert len(pi) == 0
        return
    d = cdist(pred, true)
    assert np.all(d[pi, ti] <= radius)
    # Independent references: the maximum matching size of the bipartite graph, and the
    # smallest total distance of a dense assignment with forbidden pairs.
    graph = csr_matrix((d <= radius).astype(np.int8))
    assert len(pi) == np.count_nonzero(maximum_bipartite_matching(graph, perm_type="column") >= 0)
    forbidden = 1e6
    cost = np.where(d <= radius, d, forbidden)
    a, b = linear_sum_assignment(cost)
    assert d[pi, ti].sum() == pytest.approx(cost[a, b][cost[a, b] < forbidden].sum(), abs=1e-9)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_f1_is_the_harmonic_mean_of_precision_and_recall(tp, fp, fn):
    s = Score(tp, fp, fn)
    p, r = s.precision, s.recall
    assert s.f1 == pytest.approx(0.0 if p + r == 0 else 2 * p * r / (p + r))
    assert 0.0 <= s.f1 <= 1.0


def test_thousands_of_columns():
    rng = np.random.default_rng(1)
    grid = np.stack(np.meshgrid(np.arange(60), np.arange(60)), -1).reshape(-1, 2) * 25.0
    pred = grid + rng.normal(0, 2.0, grid.shape)
    pred = pred[rng.permutation(len(pred))][:-100]
    s = atomic_scores(pred, grid, radius=1.0, sampling=0.1).overall
    assert (s.tp, s.fp, s.fn) == (len(grid) - 100, 0, 100)


def test_per_class_overall_and_class_agnostic():
    true = Peaks(LATTICE, [0, 0, 1, 1], np.ones(4))
    swapped = Peaks(LATTICE, [0, 1, 0, 1], np.ones(4))
    scores = atomic_scores(swapped, true, sampling=0.1)
    assert scores.per_class[0] == Score(1, 1, 1)
    assert scores.per_class[1] == Score(1, 1, 1)
    assert scores.overall == Score(2, 2, 2)
    assert scores.class_agnostic == Score(4, 0, 0)
    assert atomic_f1(swapped, true, sampling=0.1) == 0.5
    assert atomic_f1(swapped, true, sampling=0.1, match_classes=False) == 1.0


def test_atomic_f1_rejects_maps():
    with pytest.raises(TemnnError, match="find_peaks"):
        atomic_f1(np.zeros((8, 8)), LATTICE, sampling=0.1)
    with pytest.raises(TemnnError, match="radius.*Å"):
        atomic_f1(LATTICE, LATTICE, radius=0, sampling=0.1)
    with pytest.raises(TemnnError, match="sampling.*Å/pixel"):
        atomic_f1(LATTICE, LATTICE, sampling=-0.1)


def test_atomic_f1_in_angstrom_is_the_same_at_any_sampling():
    # Hand-built columns on a 3 Å lattice [Å]; predictions displaced by 0.9 Å (8 columns) or
    # 1.2 Å (4 columns) in random directions: with a 1 Å radius 8 of 12 match (F1 = 2/3) whether the
    # image has 0.05 or 0.1 Å/pixel. A radius of 10 pixels (the old default) is 0.5 Å at 0.05 Å/pixel
    # and matches none there, but 1 Å at 0.1 Å/pixel.
    rng = np.random.default_rng(3)
    true = np.stack(np.meshgrid(np.arange(4), np.arange(3), indexing="ij"), -1).reshape(-1, 2) * 3.0 + 2.0
    angle = rng.uniform(0, 2 * np.pi, len(true))
    shift = np.where(np.arange(len(true)) < 8, 0.9, 1.2)
    predicted = true + shift[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    for sampling in (0.05, 0.1):
        assert atomic_f1(predicted / sampling, true / sampling, sampling=sampling) == pytest.approx(2 / 3)
        assert atomic_f1(predicted / sampling, true / sampling, radius=1.3, sampling=sampling) == 1.0
    with pytest.warns(DeprecationWarning, match="sampling"):
        assert atomic_f1(predicted / 0.05, true / 0.05) == 0.0  # 10 px at 0.05 Å/pixel
    with pytest.warns(DeprecationWarning, match="sampling"):
        assert atomic_f1(predicted / 0.1, true / 0.1, radius=10) == pytest.approx(2 / 3)  # 10 px at 0.1


def test_exit_wave_rmse_closed_form():
    rng = np.random.default_rng(0)
    truth = 1 + 0.1 * (rng.normal(size=(8, 6)) + 1j * rng.normal(size=(8, 6)))
    pred = truth + 0.03 - 0.04j
    r = exit_wave_rmse(pred, truth)
    assert (r.real, r.imag, r.total) == pytest.approx((0.03, 0.04, 0.05))
    channels = np.stack([pred.real, pred.imag])  # the network's (2, nx, ny) output
    assert exit_wave_rmse(channels, truth) == exit_wave_rmse(pred, truth)
    with pytest.raises(TemnnError, match=r"\(2, nx, ny\)"):
        exit_wave_rmse(np.zeros((3, 8, 6)), truth)
