"""PNG pictures written beside the data: structure previews and image-set debug sheets.

Plots use matplotlib's object API (``matplotlib.figure.Figure``), never the pyplot state
machine, so they work headless (Agg) and from worker processes. Every file is written
atomically. Arrays index ``(x, y)``: they are transposed and drawn with ``origin="lower"``,
so x runs to the right and y upwards.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..structures.preview import plot_sample
from ..structures.sample import Sample
from .files import atomic_path

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = ["save_preview", "save_dataset_preview", "write_debug_png"]


def save_preview(
    samples: Sequence[Sample], path: str | os.PathLike, *, columns: int = 3, titles: Sequence[str] | None = None
) -> None:
    """Write a PNG with one panel per sample (written atomically).

    Parameters
    ----------
    samples : sequence of Sample
        The structures to show.
    path : path
        Output PNG file.
    columns : int
        Panels per row.
    titles : sequence of str, optional
        One title per sample (chemical formulas when ``None``).
    """
    samples = list(samples)
    columns = max(1, min(columns, len(samples)))
    rows = max(1, -(-len(samples) // columns))
    figure = Figure(figsize=(4.5 * columns, 4.5 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i < len(samples):
            plot_sample(samples[i], ax, title=None if titles is None else titles[i])
        else:
            ax.set_axis_off()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=120)


def save_dataset_preview(dataset: Dataset, indices: Sequence[int], path: str | os.PathLike) -> None:
    """Write a PNG of stored samples: structure with sites (top) and exit-wave phase (bottom).

    Parameters
    ----------
    dataset : temnn.io.dataset.Dataset
        A data set made by ``temnn structures``.
    indices : sequence of int
        The samples to show (a few; one column each).
    path : path
        Output PNG file (written atomically).
    """
    indices = list(indices)
    if not indices:
        return
    figure = Figure(figsize=(4.2 * len(indices), 8.4), layout="constrained")
    axes = figure.subplots(2, len(indices), squeeze=False)
    for column, index in enumerate(indices):
        sites, classes, names = dataset.load_sites(index)
        atoms = dataset.load_structure(index)
        sample = Sample(atoms=atoms, sites=sites, classes=classes, class_names=names)
        plot_sample(sample, axes[0, column], title=f"{index:05d}: {atoms.get_chemical_formula()}")
        wave = dataset.load_wave(index).coherent()  # the mean wave of frozen-phonon configurations
        extent = wave.extent
        # arrays index (x, y): transpose so that x runs horizontally, y upwards
        image = axes[1, column].imshow(
            np.angle(wave.array).T, origin="lower", extent=(0, extent[0], 0, extent[1]), cmap="twilight"
        )
        axes[1, column].set_title(f"exit-wave phase, {wave.energy / 1e3:g} keV", fontsize=9)
        axes[1, column].set_xlabel("x [Å]")
        axes[1, column].set_ylabel("y [Å]")
        figure.colorbar(image, ax=axes[1, column], shrink=0.8, label="phase [rad]")
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def write_debug_png(
    path: str | os.PathLike,
    image: np.ndarray,
    label: np.ndarray,
    sampling: float,
    *,
    label_kind: str,
    background: bool = False,
    title: str = "",
) -> None:
    """Save a sheet of an image (every focal-series channel), its label and their overlay.

    Panels show x to the right and y upwards, each with a scale bar. Disk and
    Gaussian labels are drawn as one colour per class (background channel left
    out), a Mask as its outline, an Exitwave label as its real and imaginary part.

    Parameters
    ----------
    path : path
        Output PNG file (written atomically).
    image : numpy.ndarray, shape (C, nx, ny)
        Image or focal series.
    label : numpy.ndarray, shape (K, nx, ny)
        Label on the same grid.
    sampling : float
        Pixel size [Å/pixel], for the scale bar.
    label_kind : str
        ``"Mask"``, ``"Disk"``, ``"Gaussian"`` or ``"Exitwave"``.
    background : bool
        The last label channel is the background (``null_class``); it is not drawn.
    title : str
        Figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    image = np.asarray(image, dtype=np.float32)
    label = np.asarray(label, dtype=np.float32)
    panels: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    for c, channel in enumerate(image):
        panels.append((f"image {c}" if len(image) > 1 else "image", channel, {"cmap": "gray"}))
    if label_kind == "Exitwave":
        panels.append(("label: Re ψ", label[0], {"cmap": "gray"}))
        panels.append(("label: Im ψ", label[1], {"cmap": "gray"}))
    else:
        colours = _label_colours(label, label_kind, background)
        panels.append((f"label: {label_kind}", colours, {}))
        panels.append(("overlay", None, {}))

    nx, ny = image.shape[1:]
    panel = float(np.clip(max(nx, ny) / 80, 3.0, 6.0))  # [inches] about one screen pixel per image pixel
    fig = Figure(figsize=(panel * len(panels), panel * ny / nx + 0.4), dpi=100)
    FigureCanvasAgg(fig)
    extent = (0.0, nx * sampling, 0.0, ny * sampling)
    for k, (name, data, style) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        if data is None:  # overlay: first image in grey, the label on top
            ax.imshow(image[0].T, origin="lower", extent=extent, cmap="gray")
            if label_kind == "Mask":
                ax.contour(label[0].T, levels=[0.5], colors="red", linewidths=1.0, origin="lower", extent=extent)
            else:
                rgb = _label_colours(label, label_kind, background)
                alpha = 0.6 * np.clip(rgb.max(axis=-1, keepdims=True) / max(rgb.max(), 1e-12), 0, 1)
                overlay = np.concatenate([rgb / max(rgb.max(), 1e-12), alpha], axis=-1)
                ax.imshow(np.transpose(overlay, (1, 0, 2)), origin="lower", extent=extent)
        elif data.ndim == 3:
            ax.imshow(np.transpose(data, (1, 0, 2)), origin="lower", extent=extent)
        else:
            ax.imshow(data.T, origin="lower", extent=extent, **style)
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
        _scale_bar(ax, nx * sampling)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def _label_colours(label: np.ndarray, kind: str, background: bool) -> np.ndarray:
    """RGB (nx, ny, 3) of a label: one colour per class channel (background dropped)."""
    from matplotlib import colormaps

    if kind == "Mask":
        return np.repeat(label[0][..., None], 3, axis=-1)
    classes = label[:-1] if background else label
    palette = np.asarray(colormaps["tab10"].colors)[[3, 2, 0, 1, 4, 5, 6, 7, 8, 9]]  # red, green, blue, ...
    rgb = np.tensordot(classes[: len(palette)], palette[: len(classes)], axes=(0, 0))
    return np.clip(rgb, 0.0, 1.0)


def _scale_bar(ax: Any, width: float) -> None:
    """Draw a scale bar of a round length (1, 2 or 5 × 10^k Å) about a fifth of the field [Å]."""
    from matplotlib.patches import Rectangle

    target = width / 5
    exponent = np.floor(np.log10(target))
    length = min((m * 10**exponent for m in (1, 2, 5, 10)), key=lambda v: abs(v - target))
    text = f"{length / 10:g} nm" if length >= 10 else f"{length:g} Å"
    x0, y0 = 0.05 * width, 0.05 * width
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    height = ymax - ymin
    ax.add_patch(Rectangle((xmin + x0, ymin + y0), length, 0.02 * height, color="white", ec="black", lw=0.5))
    ax.text(xmin + x0 + length / 2, ymin + y0 + 0.04 * height, text, color="white", ha="center", va="bottom",
            fontsize=8, fontweight="bold")
