"""Plot helpers shared by the analysis: images with scale bars, side-by-side panels.

Images index (x, y) like abTEM (``image[ix, iy]``); they are drawn with x to the
right and y up, so a drawn image looks like abTEM's ``show()``. Axes are in
pixels and a scale bar gives the physical length. Matplotlib is imported only
when a plot is made.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from ..errors import TemnnError
from ..checks import positive_sampling

__all__ = ["nice_length", "add_scale_bar", "show_image", "display_map", "plot_side_by_side",
           "save_figure", "axis_label"]

_ANGSTROM_PER = {"Å": 1.0, "nm": 10.0}


def nice_length(longest: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ not above ``longest`` (a round scale-bar length) [any unit].

    Examples
    --------
    >>> nice_length(37.0), nice_length(0.9), nice_length(5.0)
    (20.0, 0.5, 5.0)
    """
    if not longest > 0:
        raise TemnnError(f"scale bar: expected a positive length, got {longest!r}")
    decade = 10.0 ** math.floor(math.log10(longest))
    return max(m * decade for m in (1.0, 2.0, 5.0) if m * decade <= longest * (1 + 1e-12))


def add_scale_bar(ax: Any, sampling: float, *, length: float | None = None, unit: str = "nm",
                  loc: str = "lower right", color: str = "white") -> Any:
    """Draw a scale bar on an image drawn in pixel coordinates.

    Parameters
    ----------
    ax
        Matplotlib axes showing an image whose data coordinates are pixels
        (as drawn by :func:`show_image`).
    sampling
        Pixel size [Å/pixel].
    length
        Bar length [``unit``]; default: a round length near a fifth of the width.
    unit
        ``"nm"`` or ``"Å"``.
    loc
        Matplotlib location of the bar.
    color
        Bar and label colour.

    Returns
    -------
    mpl_toolkits.axes_grid1.anchored_artists.AnchoredSizeBar
        The bar; its ``size`` is the length in pixels.
    """
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    sampling = positive_sampling(sampling)
    if unit not in _ANGSTROM_PER:
        raise TemnnError(f"unit: expected 'nm' or 'Å', got {unit!r}")
    per_pixel = sampling / _ANGSTROM_PER[unit]  # [unit/pixel]
    if length is None:
        x0, x1 = ax.get_xlim()
        length = nice_length(abs(x1 - x0) * per_pixel / 5)
    label = f"{length:g} {unit}"
    bar = AnchoredSizeBar(ax.transData, length / per_pixel, label, loc, pad=0.4, sep=4, color=color,
                          frameon=False, size_vertical=max(abs(np.diff(ax.get_ylim())[0]) / 100, 1.0))
    ax.add_artist(bar)
    return bar


def display_map(data: np.ndarray) -> np.ndarray:
    """A 2D array to draw: (nx, ny) as is, (1, nx, ny) squeezed, (K, nx, ny) class maps as argmax."""
    data = np.asarray(data)
    if data.ndim == 3:
        return data[0] if data.shape[0] == 1 else np.argmax(data, axis=0)
    if data.ndim != 2:
        raise TemnnError(f"cannot draw an array of shape {data.shape}; expected (nx, ny) or (K, nx, ny)")
    return data


def show_image(ax: Any, image: np.ndarray, *, sampling: float | None = None, title: str | None = None,
               cmap: str = "gray", **imshow_kwargs: Any) -> Any:
    """Draw an (nx, ny) image with x to the right and y up, and a scale bar when ``sampling`` is given.

    Parameters
    ----------
    ax
        Matplotlib axes.
    image
        (nx, ny) array indexed ``image[ix, iy]``.
    sampling
        Pixel size [Å/pixel]; adds a scale bar.
    title
        Panel title.
    cmap
        Colour map.
    **imshow_kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (``vmin``, ``vmax``, ...).

    Returns
    -------
    matplotlib.image.AxesImage
    """
    artist = ax.imshow(np.asarray(image).T, origin="lower", cmap=cmap, interpolation="nearest", **imshow_kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if sampling is not None:
        add_scale_bar(ax, sampling)
    return artist


def plot_side_by_side(image: np.ndarray, label: np.ndarray | None = None, prediction: np.ndarray | None = None,
                      *, sampling: float | None = None, titles: Sequence[str] = ("image", "label", "prediction"),
                      path: str | os.PathLike | None = None) -> tuple[Any, list[Any]]:
    """Image, label and prediction side by side with one scale bar (thesis listings 3.9, 3.10).

    Parameters
    ----------
    image
        (nx, ny) image, or (C, nx, ny) focal series of which the first is drawn.
    label, prediction
        (nx, ny) maps or (K, nx, ny) class maps (drawn as their argmax class, on a
        shared colour scale); either may be None.
    sampling
        Pixel size [Å/pixel]; adds a scale bar to the image panel.
    titles
        Titles of the image, label and prediction panels.
    path
        Save the figure there (atomically) when given.

    Returns
    -------
    (figure, axes)
    """
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    panels = [(titles[0], image[0] if image.ndim == 3 else image, "gray")]
    maps = [(t, display_map(m)) for t, m in zip(titles[1:], (label, prediction)) if m is not None]
    vmin = min((float(np.min(m)) for _, m in maps), default=0.0)
    vmax = max((float(np.max(m)) for _, m in maps), default=1.0)
    panels += [(t, m, "viridis") for t, m in maps]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
    axes = list(axes[0])
    for i, (ax, (title, data, cmap)) in enumerate(zip(axes, panels)):
        limits = {} if i == 0 else {"vmin": vmin, "vmax": vmax}
        show_image(ax, data, sampling=sampling if i == 0 else None, title=title, cmap=cmap, **limits)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig, axes


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 150) -> None:
    """Save a figure atomically; the format follows the file suffix (.png, .pdf, .svg)."""
    from ..io.files import atomic_path

    suffix = os.path.splitext(os.fspath(path))[1]
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")


def axis_label(name: str) -> str:
    """An axis label from a column name whose suffix is its unit: ``"area_nm2"`` → ``"area [nm²]"``."""
    units = {"_nm2": "nm²", "_nm": "nm", "_inv_angstrom": "1/Å", "_angstrom": "Å", "_s": "s",
             "_rad": "rad", "_deg": "°"}
    for suffix, unit in units.items():
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} [{unit}]"
    return name.replace("_", " ")
