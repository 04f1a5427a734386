"""Scores of a prediction against its ground truth: pixel and atomic F1, exit-wave RMSE.

The pixel F1-Score (thesis eqs. 3.5-3.7) compares a thresholded probability map with
a binary label pixel by pixel. The atomic F1-Score (publication III, section 2)
compares the atomic columns found in the prediction with those of the ground truth:
a predicted column is a true positive when it lies within ``radius`` of a
ground-truth column, each column counting at most once.

The radius is a distance in the specimen, in Å (default
:data:`ATOMIC_F1_RADIUS`, 1 Å as in publication III); positions are in pixels
of an image of ``sampling`` Å/pixel, so the match distance is
``radius / sampling`` pixels and the same columns score the same at any
sampling. Calls without ``sampling`` keep the old convention (radius and
positions both in pixels, default 10 px, which is 1 Å only at 0.1 Å/pixel)
and warn that it is deprecated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import TemnnError
from ._arrays import class_maps, complex_wave
from .peaks import Peaks

__all__ = [
    "ATOMIC_F1_RADIUS",
    "Score",
    "AtomicScores",
    "WaveRMSE",
    "pixel_scores",
    "match_positions",
    "atomic_scores",
    "atomic_f1",
    "exit_wave_rmse",
]


@dataclass(frozen=True)
class Score:
    """True positive, false positive and false negative counts, and the scores they give.

    Counts add up (``Score.__add__``), so the scores of a whole data set are those of
    the summed counts (micro average).

    Attributes
    ----------
    tp, fp, fn
        Numbers of true positives, false positives and false negatives
        (pixels or atomic columns).

    Notes
    -----
    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)`` and
    ``F1 = TP / (TP + (FP + FN) / 2)`` (thesis eqs. 3.5-3.7). A ratio 0/0 is 1:
    nothing predicted makes no false claim (precision 1), nothing to find is all
    found (recall 1), and an empty prediction of an empty truth is perfect
    (F1 = 1 when TP + FP + FN = 0). These choices keep F1 = 2PR / (P + R).
    """

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1 when nothing was predicted."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1 when there was nothing to find."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """TP / (TP + (FP + FN) / 2); 1 when TP + FP + FN = 0."""
        return _ratio(self.tp, self.tp + 0.5 * (self.fp + self.fn))

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self) -> dict[str, float]:
        """Counts and scores as a flat dictionary (for tables and JSON)."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _ratio(numerator: float, denominator: float) -> float:
    return 1.0 if denominator == 0 else float(numerator) / float(denominator)


def pixel_scores(prediction: np.ndarray, truth: np.ndarray, *, threshold: float = 0.5) -> list[Score]:
    """Pixel-wise counts and F1-Score per class channel (thesis eqs. 3.5-3.7).

    Parameters
    ----------
    prediction
        (nx, ny) or (K, nx, ny) probability maps [0-1], or binary maps.
    truth
        Binary labels of the same shape (the Mask or Disk label).
    threshold
        A pixel is predicted positive where ``prediction >= threshold`` [probability].

    Returns
    -------
    list of Score
        One score per channel; sum them for a score over all classes.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((4, 4)); truth[:2] = 1
    >>> pred = np.zeros((4, 4)); pred[1:3] = 0.9
    >>> s = pixel_scores(pred, truth)[0]
    >>> (s.tp, s.fp, s.fn), s.f1
    ((4, 4, 4), 0.5)
    """
    pred = class_maps(prediction, name="prediction")
    true = class_maps(truth, name="truth")
    if pred.shape != true.shape:
        raise TemnnError(
            f"prediction and truth must have the same shape, got {np.shape(prediction)} and {np.shape(truth)}"
        )
    positive = pred >= threshold
    true = true > 0.5
    tp = np.count_nonzero(positive & true, axis=(1, 2))
    fp = np.count_nonzero(positive & ~true, axis=(1, 2))
    fn = np.count_nonzero(~positive & true, axis=(1, 2))
    return [Score(int(a), int(b), int(c)) for a, b, c in zip(tp, fp, fn)]


def match_positions(predicted: np.ndarray, true: np.ndarray, *, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of predicted and true positions within a radius.

    Among all matchings that pair each position at most once and only within
    ``radius``, this returns one with the most pairs and, among those, the
    smallest summed distance.

    Parameters
    ----------
    predicted, true
        (N, 2) and (M, 2) positions [pixels, or any unit shared with ``radius``].
    radius
        Largest distance of a matched pair (inclusive) [same unit as the positions].

    Returns
    -------
    (pred_index, true_index)
        Integer arrays of equal length: ``predicted[pred_index[k]]`` is matched with
        ``true[true_index[k]]``.

    Notes
    -----
    A greedy nearest-first matching can pair a prediction with the wrong column and
    leave a neighbour unmatched; an optimal assignment does not. Only pairs within
    the radius are candidates (found with a KD-tree), the candidate graph is split
    into its connected components, and each component is solved with
    :func:`scipy.optimize.linear_sum_assignment`, where forbidden pairs cost more
    than any full set of allowed pairs so the number of pairs is maximised first.
    Components are tiny for atoms further apart than the radius, so thousands of
    columns take milliseconds.
    """
    predicted = _positions(predicted, "predicted")
    true = _positions(true, "true")
    empty = np.zeros(0, dtype=np.intp)
    if len(predicted) == 0 or len(true) == 0:
        return empty, empty
    pairs = cKDTree(predicted).sparse_distance_matrix(cKDTree(true), float(radius), output_type="ndarray")
    if len(pairs) == 0:
        return empty, empty
    n_pred = len(predicted)
    rows, cols, dist = pairs["i"], pairs["j"], pairs["v"]
    # Bipartite graph: nodes 0..n_pred-1 are predictions, n_pred.. are true positions.
    graph = coo_matrix((np.ones(len(rows)), (rows, cols + n_pred)), shape=(n_pred + len(true),) * 2)
    _, component = connected_components(graph, directed=False)
    pair_component = component[rows]
    order = np.argsort(pair_component, kind="stable")
    bounds = np.flatnonzero(np.diff(pair_component[order])) + 1
    matched_pred, matched_true = [], []
    for group in np.split(order, bounds):
        r, c, d = rows[group], cols[group], dist[group]
        if len(group) == 1:
            matched_pred.append(r)
            matched_true.append(c)
            continue
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        forbidden = min(len(ur), len(uc)) * (float(radius) + 1.0) + 1.0
        cost = np.full((len(ur), len(uc)), forbidden)
        cost[ri, ci] = d
        a, b = linear_sum_assignment(cost)
        allowed = cost[a, b] < forbidden
        matched_pred.append(ur[a[allowed]])
        matched_true.append(uc[b[allowed]])
    return np.concatenate(matched_pred).astype(np.intp), np.concatenate(matched_true).astype(np.intp)


@dataclass(frozen=True)
class AtomicScores:
    """Atomic F1 counts of one prediction (publication III).

    Attributes
    ----------
    per_class
        Score of each class, matching predicted and true columns of that class only.
    overall
        Sum of the per-class counts: a column is a true positive only when it is
        found at the right place with the right class.
    class_agnostic
        Score of matching all predicted columns with all true columns, whatever
        their classes (detection regardless of classification).
    """

    per_class: Mapping[int, Score]
    overall: Score
    class_agnostic: Score


def atomic_scores(predicted: Peaks | np.ndarray, true: Peaks | np.ndarray, *, radius: float | None = None,
                  sampling: float | None = None) -> AtomicScores:
    """Atomic F1 counts: predicted and true columns matched one-to-one within a radius.

    Parameters
    ----------
    predicted, true
        Columns as :class:`~temnn.analysis.peaks.Peaks` (positions and classes, e.g.
        from :func:`~temnn.analysis.peaks.find_peaks`) or as (N, 2) positions
        [pixels], which all count as class 0.
    radius
        Largest distance of a true positive [Å]; default :data:`ATOMIC_F1_RADIUS`
        (1 Å, publication III).
    sampling
        Pixel size of the positions [Å/pixel]; the match distance is
        ``radius / sampling`` pixels. Deprecated when omitted: ``radius`` is then in
        pixels (default 10 px), as before (a :class:`DeprecationWarning`).

    Returns
    -------
    AtomicScores
        ``TP`` = matched pairs, ``FP`` = predicted − TP, ``FN`` = true − TP, per class,
        summed over classes (``overall``) and class-agnostic.
    """
    pred = predicted if isinstance(predicted, Peaks) else Peaks.from_positions(predicted, name="predicted")
    tru = true if isinstance(true, Peaks) else Peaks.from_positions(true, name="true")
    pixels = _radius_in_pixels(radius, sampling)

    def score(p: np.ndarray, t: np.ndarray) -> Score:
        tp = len(match_positions(p, t, radius=pixels)[0])
        return Score(tp, len(p) - tp, len(t) - tp)

    per_class = {
        int(c): score(pred.positions[pred.classes == c], tru.positions[tru.classes == c])
        for c in np.union1d(pred.classes, tru.classes)
    }
    overall = sum(per_class.values(), Score(0, 0, 0))
    return AtomicScores(per_class, overall, score(pred.positions, tru.positions))


def atomic_f1(predicted: Peaks | np.ndarray, true: Peaks | np.ndarray, *, radius: float | None = None,
              sampling: float | None = None, match_classes: bool = True) -> float:
    """Atomic F1-Score of predicted against true columns (publication III).

    Parameters
    ----------
    predicted, true
        :class:`~temnn.analysis.peaks.Peaks` or (N, 2) positions [pixels].
    radius
        Largest distance of a true positive [Å]; default 1 Å.
    sampling
        Pixel size of the positions [Å/pixel] (see :func:`atomic_scores`; omitting it
        is deprecated and takes ``radius`` in pixels).
    match_classes
        If True a column must also have the right class (counts summed over
        classes); if False classes are ignored.

    Returns
    -------
    float
        The F1-Score in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> true = np.array([[10.0, 10.0], [40.0, 10.0]])  # [pixels]
    >>> atomic_f1(true + 3.0, true, sampling=0.1)  # 0.42 Å off, within 1 Å
    1.0
    >>> atomic_f1(true + 3.0, true, sampling=0.05)  # 0.21 Å off
    1.0
    >>> atomic_f1(true + 3.0, true, radius=0.3, sampling=0.1)
    0.0
    >>> atomic_f1(true[:1], true, sampling=0.1)
    0.6666666666666666
    """
    scores = atomic_scores(predicted, true, radius=radius, sampling=sampling)
    return (scores.overall if match_classes else scores.class_agnostic).f1


ATOMIC_F1_RADIUS = 1.0
"""Default atomic-F1 match radius [Å] (publication III)."""

_LEGACY_RADIUS_PIXELS = 10.0


def _radius_in_pixels(radius: float | None, sampling: float | None) -> float:
    """The atomic-F1 match distance [pixels] of ``radius`` [Å] at ``sampling`` [Å/pixel].

    Parameters
    ----------
    radius : float, optional
        Match radius [Å]; :data:`ATOMIC_F1_RADIUS` when None.
    sampling : float, optional
        Pixel size [Å/pixel]. None is the deprecated pixel convention: ``radius`` is
        returned as pixels (10 when None), with a :class:`DeprecationWarning`.

    Returns
    -------
    float
        The radius [pixels].

    Raises
    ------
    TemnnError
        A radius or sampling that is not a positive finite number.
    """
    if sampling is None:
        warnings.warn(
            "atomic F1 without 'sampling' takes the radius in pixels (default 10 px); this is deprecated: "
            "pass sampling=Å/pixel and the radius in Å (default 1 Å)",
            DeprecationWarning,
            stacklevel=3,
        )
        pixels = _LEGACY_RADIUS_PIXELS if radius is None else radius
        if not (np.isfinite(pixels) and pixels > 0):
            raise TemnnError(f"radius: expected a positive distance in pixels, got {radius!r}")
        return float(pixels)
    radius = ATOMIC_F1_RADIUS if radius is None else radius
    if not (np.isfinite(radius) and radius > 0):
        raise TemnnError(f"radius: expected a positive distance in Å (e.g. 1.0), got {radius!r}")
    if not (np.isfinite(sampling) and sampling > 0):
        raise TemnnError(f"sampling: expected a positive pixel size in Å/pixel (e.g. 0.1), got {sampling!r}")
    return float(radius) / float(sampling)


def _positions(positions: np.ndarray, name: str) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.size == 0:
        return positions.reshape(0, 2)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise TemnnError(
            f"{name}: expected (N, 2) positions (ix, iy) in pixels, got an array of shape {positions.shape}; "
            "find the columns of a probability map with temnn.find_peaks first"
        )
    return positions


@dataclass(frozen=True)
class WaveRMSE:
    """Root-mean-square errors of an exit wave [dimensionless, vacuum = 1].

    Attributes
    ----------
    real, imag
        RMSE of the real and of the imaginary part.
    total
        RMSE of the complex difference, sqrt(mean |ψ_pred − ψ_true|²); total² = real² + imag².
    """

    real: float
    imag: float
    total: float


def exit_wave_rmse(prediction: np.ndarray, truth: np.ndarray) -> WaveRMSE:
    """RMSE between a predicted and a true exit wave (publication I, fig. 4).

    Parameters
    ----------
    prediction, truth
        Complex (nx, ny) waves or real (2, nx, ny) (real, imaginary) arrays
        [dimensionless, vacuum = 1].

    Returns
    -------
    WaveRMSE
        Real, imaginary and total complex RMSE.
    """
    pred = complex_wave(prediction, name="prediction")
    true = complex_wave(truth, name="truth")
    if pred.shape != true.shape:
        raise TemnnError(f"prediction and truth waves must have the same shape, got {pred.shape} and {true.shape}")
    diff = pred - true
    real = float(np.sqrt(np.mean(diff.real**2)))
    imag = float(np.sqrt(np.mean(diff.imag**2)))
    return WaveRMSE(real, imag, float(np.sqrt(np.mean(np.abs(diff) ** 2))))
