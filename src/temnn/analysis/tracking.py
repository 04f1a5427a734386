"""Tracking particles across frames ("Label by 2+1D connectivity", thesis fig. 3.11, 6.1).

Each frame is split into particles by :func:`~temnn.analysis.instances.label_instances`;
a particle then takes the id of the previous-frame particle it overlaps most, when
the overlap is at least a threshold (50 % by default), and a new id otherwise.

Overlap of a previous particle A and a current particle B is
``|A ∩ B| / min(|A|, |B|)``: the fraction of the smaller of the two that the other
covers. Relative to the smaller region, a particle that splits in two or two
particles that merge still overlap fully, so the id is carried on; candidates are
then served largest intersection ``|A ∩ B|`` first (ties: lower id, then lower
label), each id going to at most one particle and each particle taking at most
one id. So:

- a particle that moves keeps its id while the overlap stays ≥ the threshold
  (a disc of radius r keeps 50 % overlap for steps up to ≈ 0.8 r per frame);
- a particle that appears, or whose overlap is too small, gets a new id;
- a particle that vanishes ends its id; ids are never reused, also not for a
  particle that returns after an empty frame (there is no gap closing);
- on a split the larger-overlap part keeps the id and the other gets a new one;
- on a merge the merged region takes the id of its largest overlap.

Libraries checked: laptrack links by a global linear assignment over the
whole stack (it can use a segmentation-overlap cost, but needs all frames at once
and pandas tables); trackpy links point features by distance (Crocker-Grier) and
ignores region overlap; btrack links by a Bayesian motion model (C++ extension,
a configuration file per experiment). None implements the thesis rule (largest
overlap above a threshold, frame by frame with flat memory), and the rule is a
dozen lines of NumPy, so it is written here.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from skimage.segmentation import relabel_sequential

from ..errors import TemnnError
from ..checks import positive_sampling
from .instances import Slice, _label_instances, separation_pixels

__all__ = ["Tracker", "track", "property_table", "plot_property"]


class Tracker:
    """Frame-by-frame id assignment by region overlap; holds only the previous frame.

    Parameters
    ----------
    overlap
        Smallest overlap ``|A ∩ B| / min(|A|, |B|)`` that carries an id from a
        previous particle A to a current particle B [fraction, 0-1].

    Examples
    --------
    >>> import numpy as np
    >>> tracker = Tracker()
    >>> a = np.zeros((6, 6), np.int32); a[1:4, 1:4] = 1
    >>> b = np.zeros((6, 6), np.int32); b[2:5, 1:4] = 7
    >>> int(tracker.update(a).max()), int(tracker.update(b).max())
    (1, 1)
    """

    def __init__(self, *, overlap: float = 0.5) -> None:
        if not 0.0 < float(overlap) <= 1.0:
            raise TemnnError(f"overlap: expected a fraction in (0, 1], got {overlap!r}")
        self.overlap = float(overlap)
        self.next_id = 1
        self._previous: np.ndarray | None = None  # sequential labels of the previous frame
        self._previous_ids = np.zeros(1, dtype=np.int64)  # sequential label -> track id
        self._previous_area = np.zeros(1, dtype=np.int64)  # sequential label -> area [pixels]

    def update(self, labels: np.ndarray) -> np.ndarray:
        """Give the particles of the next frame their track ids.

        Parameters
        ----------
        labels
            (nx, ny) instance labels of the frame (0 = background, any positive
            integers for particles).

        Returns
        -------
        np.ndarray
            int32 (nx, ny) track ids (0 = background).
        """
        labels = np.asarray(labels)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
            raise TemnnError(f"labels: expected an integer (nx, ny) label image, got {labels.dtype} {labels.shape}")
        return self._update_sequential(relabel_sequential(labels)[0])

    def _update_sequential(self, current: np.ndarray) -> np.ndarray:
        """:meth:`update` for labels already numbered 1..N (as label_instances gives)."""
        if self._previous is not None and current.shape != self._previous.shape:
            raise TemnnError(f"frame shape {current.shape} differs from the previous frame's {self._previous.shape}")
        n_current = int(current.max(initial=0))
        area_current = np.bincount(current.ravel(), minlength=n_current + 1)
        ids = np.zeros(n_current + 1, dtype=np.int64)
        if self._previous is not None and n_current and len(self._previous_ids) > 1:
            for prev, cur in self._links(current, area_current):
                ids[cur] = self._previous_ids[prev]
        new = np.flatnonzero(ids[1:] == 0) + 1
        ids[new] = np.arange(self.next_id, self.next_id + len(new))
        self.next_id += len(new)
        if self.next_id > np.iinfo(np.int32).max:
            raise TemnnError("more than 2³¹ track ids; split the stack")
        self._previous, self._previous_ids, self._previous_area = current, ids, area_current
        return ids[current].astype(np.int32)

    def _links(self, current: np.ndarray, area_current: np.ndarray) -> list[tuple[int, int]]:
        """(previous label, current label) pairs that carry an id, largest intersection first."""
        n_current = len(area_current) - 1
        both = (self._previous > 0) & (current > 0)
        codes = self._previous[both].astype(np.int64) * (n_current + 1) + current[both]
        pairs, intersection = np.unique(codes, return_counts=True)
        prev, cur = np.divmod(pairs, n_current + 1)
        fraction = intersection / np.minimum(self._previous_area[prev], area_current[cur])
        ok = fraction >= self.overlap
        prev, cur, intersection = prev[ok], cur[ok], intersection[ok]
        order = np.lexsort((cur, self._previous_ids[prev], -intersection))
        taken_prev, taken_cur, links = set(), set(), []
        for p, c in zip(prev[order].tolist(), cur[order].tolist()):
            if p not in taken_prev and c not in taken_cur:
                taken_prev.add(p)
                taken_cur.add(c)
                links.append((p, c))
        return links


def track(stack: Iterable[np.ndarray], *, sampling: float, min_spacing: float | None = None,
          threshold: float = 0.5, overlap: float = 0.5, min_separation: float | None = None) -> Iterator[np.ndarray]:
    """Split every frame into particles and track them ("Label by 2+1D connectivity").

    Frames are read, labelled and yielded one at a time, so memory stays flat
    however long the stack; write the frames into a preallocated or memory-mapped
    array, or a file, as they come.

    Parameters
    ----------
    stack
        Iterable of (nx, ny) probability maps [0-1] or binary masks: a (T, nx, ny)
        array, a memory map, a generator, a zarr or dask array.
    sampling
        Pixel size [Å/pixel].
    min_spacing
        Smallest distance between particle centres [Å]; its square is the smallest
        particle area kept [Å²].
    threshold
        A pixel belongs to a particle where ``frame >= threshold`` [probability].
    overlap
        Smallest overlap that carries an id to the next frame (see :class:`Tracker`)
        [fraction].
    min_separation
        Deprecated: the smallest distance in nm (``min_spacing`` = 10 · ``min_separation``); warns.

    Yields
    ------
    np.ndarray
        int32 (nx, ny) track ids of each frame (0 = background).

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.mgrid[:64, :64]
    >>> frames = (np.hypot(x - 20 - 2 * t, y - 32) < 10 for t in range(5))
    >>> [int(f.max()) for f in track(frames, sampling=1.0, min_spacing=10.0)]
    [1, 1, 1, 1, 1]
    """
    # the arguments are checked now, not at the first frame
    separation = separation_pixels("track", sampling=sampling, min_spacing=min_spacing, min_separation=min_separation)
    tracker = Tracker(overlap=overlap)

    def frames() -> Iterator[np.ndarray]:
        for frame in stack:
            yield tracker._update_sequential(_label_instances(np.asarray(frame), separation,
                                                              threshold=threshold))

    return frames()


def property_table(tracked: Iterable[np.ndarray], sampling: float, *,
                   frame_interval: float | None = None) -> list[dict[str, float]]:
    """Properties of every tracked particle in every frame, as a tidy table.

    Parameters
    ----------
    tracked
        Iterable of (nx, ny) track-id frames (from :func:`track`), read one at a time.
    sampling
        Pixel size [Å/pixel].
    frame_interval
        Time between frames [s]; adds a ``time_s`` column.

    Returns
    -------
    list of dict
        One row per particle and frame: ``frame``, (``time_s``), ``id``, the
        properties of :data:`~temnn.analysis.instances.INSTANCE_PROPERTIES`
        (``area_nm2``, ``com_x_nm``, ``com_y_nm``, ``equivalent_diameter_nm``, ...)
        and ``displacement_nm``, the distance its centre of mass moved since the
        particle's previous frame (NaN in its first frame). Write it with
        :func:`temnn.io.tables.write_csv`.
    """
    sampling = positive_sampling(sampling)
    last_position: dict[int, tuple[float, float]] = {}
    rows: list[dict[str, float]] = []
    for t, labels in enumerate(tracked):
        for inst in Slice.from_labels(np.asarray(labels), sampling, index=t):
            row: dict[str, float] = {"frame": t}
            if frame_interval is not None:
                row["time_s"] = t * float(frame_interval)
            row["id"] = inst.id
            row.update(inst.properties)
            position = (inst.properties["com_x_nm"], inst.properties["com_y_nm"])
            previous = last_position.get(inst.id)
            row["displacement_nm"] = float("nan") if previous is None else float(np.hypot(
                position[0] - previous[0], position[1] - previous[1]))
            last_position[inst.id] = position
            rows.append(row)
    return rows


def plot_property(rows: Sequence[dict[str, float]], *, name: str = "area_nm2", ids: Sequence[int] | None = None,
                  ax: Any = None, path: str | os.PathLike | None = None) -> Any:
    """Plot one property of selected particles against time (thesis fig. 6.6).

    Parameters
    ----------
    rows
        Table from :func:`property_table`.
    name
        Column to plot, e.g. ``"area_nm2"`` [its unit is the suffix].
    ids
        Particles to show (default: all).
    ax
        Matplotlib axes to draw in (default: a new figure).
    path
        Save the figure there (atomically) when given.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    from .plotting import axis_label, save_figure

    if rows and name not in rows[0]:
        raise TemnnError(f"name: the table has no column {name!r}; columns are {', '.join(rows[0])}")
    time_key = "time_s" if rows and "time_s" in rows[0] else "frame"
    wanted = None if ids is None else {int(i) for i in ids}
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for track_id in sorted({int(r["id"]) for r in rows}):
        if wanted is not None and track_id not in wanted:
            continue
        mine = [r for r in rows if int(r["id"]) == track_id]
        ax.plot([r[time_key] for r in mine], [r[name] for r in mine], marker=".", label=f"id {track_id}")
    ax.set_xlabel("time [s]" if time_key == "time_s" else "frame")
    ax.set_ylabel(axis_label(name))
    if ax.lines:
        ax.legend(fontsize="small")
    if path is not None:
        save_figure(ax.figure, path)
    return ax
