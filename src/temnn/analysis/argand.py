"""Argand plots: the exit wave at the atomic columns in the complex plane.

Each atomic column leaves a peak in |ψ − 1|, the change of the exit wave from
vacuum; the complex value of ψ at that peak is plotted as a point (Re ψ, Im ψ)
(thesis section 1.4; publication I, fig. 5). In the weak-phase limit the
imaginary part grows with the total atomic number of the column, so columns of
different composition form separate clusters, and the spread of a cluster shows
how well a reconstructed wave keeps this information.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import TemnnError
from ..units import length_in_pixels
from ._arrays import complex_wave
from .peaks import _find_peaks, assign_classes

__all__ = ["ArgandPoints", "argand_points", "plot_argand"]


@dataclass
class ArgandPoints:
    """Exit-wave values at the column peaks.

    Attributes
    ----------
    positions
        (N, 2) peak pixels (ix, iy) [pixels].
    values
        (N,) complex exit wave at each peak [dimensionless, vacuum = 1].
    classes
        (N,) class of the column at each peak (−1: no site nearby or no sites given).
    """

    positions: np.ndarray
    values: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


def argand_points(wave: np.ndarray, *, sampling: float | None = None, min_spacing: float | None = None,
                  threshold: float = 0.1, sites: np.ndarray | None = None, site_classes: np.ndarray | None = None,
                  radius: float | None = None, min_distance: float | None = None) -> ArgandPoints:
    """Values of an exit wave at the local maxima of |ψ − 1|, with the class of each column.

    Parameters
    ----------
    wave
        Complex (nx, ny) exit wave or real (2, nx, ny) (real, imaginary) parts
        [dimensionless, vacuum = 1].
    sampling
        Pixel size of the wave [Å/pixel]; needed with ``min_spacing``.
    min_spacing
        Smallest distance between two columns [Å]; default (neither ``min_spacing``
        nor ``min_distance``) 5 pixels.
    threshold
        Smallest peak height as a fraction of the largest |ψ − 1| [0-1].
    sites
        (M, 2) column sites [pixels] (stored sites [Å] divided by the sampling)
        whose classes colour the points.
    site_classes
        (M,) class of each site.
    radius
        Largest distance from a peak to its site [pixels], like the sites and the
        positions (pixel coordinates); default the spacing in pixels.
    min_distance
        Deprecated: the smallest distance in pixels, without ``sampling``; warns.

    Returns
    -------
    ArgandPoints
        One point per column peak; the value is ψ at the peak pixel itself (not
        interpolated, which would lower sharp peaks).

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.mgrid[:32, :32]
    >>> wave = 1 + 0.2j * np.exp(-((x - 10) ** 2 + (y - 12) ** 2) / 4.0)
    >>> p = argand_points(wave, sampling=0.1, min_spacing=0.5)
    >>> p.positions.tolist(), np.round(p.values, 3).tolist()
    ([[10.0, 12.0]], [(1+0.2j)])
    """
    distance = length_in_pixels("argand_points", name="min_spacing", value=min_spacing, sampling=sampling,
                                old_name="min_distance", old_value=min_distance, default=5.0)
    return _argand_points(wave, distance, threshold=threshold, sites=sites, site_classes=site_classes, radius=radius)


def _argand_points(wave: np.ndarray, distance: float, *, threshold: float = 0.1, sites: np.ndarray | None = None,
                   site_classes: np.ndarray | None = None, radius: float | None = None) -> ArgandPoints:
    """:func:`argand_points` with the spacing ``distance`` in pixels."""
    psi = complex_wave(wave, name="wave")
    change = np.abs(psi - 1.0)
    top = float(change.max())
    if not 0.0 <= threshold <= 1.0:
        raise TemnnError(f"threshold: expected a fraction of the largest |ψ − 1| in [0, 1], got {threshold!r}")
    if top == 0.0:
        empty = np.zeros(0)
        return ArgandPoints(np.zeros((0, 2)), empty.astype(complex), empty.astype(np.int64))
    peaks = _find_peaks(change, distance, threshold=max(threshold * top, np.finfo(float).tiny), refine="none")
    pixels = peaks.positions.astype(np.intp)
    values = psi[pixels[:, 0], pixels[:, 1]]
    if sites is None:
        classes = np.full(len(values), -1, dtype=np.int64)
    else:
        if site_classes is None:
            raise TemnnError("site_classes: give the class of every site together with sites")
        classes = assign_classes(pixels, sites, site_classes, radius=distance if radius is None else radius)
    return ArgandPoints(peaks.positions, values, classes)


def plot_argand(prediction: ArgandPoints, truth: ArgandPoints | None = None, *,
                class_names: Sequence[str] | None = None,
                path: str | os.PathLike | None = None) -> tuple[Any, list[Any]]:
    """Argand plots of a predicted and a true exit wave side by side (publication I, fig. 5).

    Parameters
    ----------
    prediction
        Points of the reconstructed (predicted) wave.
    truth
        Points of the ground-truth wave, drawn in a second panel on the same axes
        limits.
    class_names
        Names of the classes, for the legend.
    path
        Save the figure there (atomically) when given.

    Returns
    -------
    (figure, axes)
    """
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    sets = [("prediction", prediction)] + ([("ground truth", truth)] if truth is not None else [])
    fig, axes = plt.subplots(1, len(sets), figsize=(4.5 * len(sets), 4.5), squeeze=False, sharex=True, sharey=True)
    axes = list(axes[0])
    classes = np.unique(np.concatenate([p.classes for _, p in sets]))  # same colour per class in both panels
    colours = plt.get_cmap("tab10")
    for ax, (title, points) in zip(axes, sets):
        for k, c in enumerate(classes):
            chosen = points.classes == c
            if not chosen.any():
                continue
            if c < 0:
                name = "unassigned"
            elif class_names is not None and c < len(class_names):
                name = class_names[c]
            else:
                name = f"class {c}"
            ax.scatter(points.values[chosen].real, points.values[chosen].imag, s=12,
                       color="grey" if c < 0 else colours(k % 10), label=name)
        ax.plot([1.0], [0.0], marker="x", color="black", linestyle="none", label="vacuum")
        ax.set_title(title)
        ax.set_xlabel("Re ψ")
        ax.set_aspect("equal", adjustable="box")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("Im ψ")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes
