"""Pictures of generated structures: atoms and column sites seen along the beam.

Plots use matplotlib's object API (``matplotlib.figure.Figure``), never the pyplot state
machine, so they work headless (Agg) and from worker processes.

Examples
--------
>>> import numpy as np
>>> from temnn.structures.mx2 import random_mx2_flake
>>> ax = plot_sample(random_mx2_flake(np.random.default_rng(0), cell=(30, 30)))
>>> ax.get_xlabel()
'x [Å]'
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

import numpy as np
from ase.data.colors import jmol_colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..io.files import atomic_path
from .sample import Sample

if TYPE_CHECKING:
    from ..io.dataset import Dataset

__all__ = ["plot_sample", "save_preview", "save_dataset_preview"]


def plot_sample(sample: Sample, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Draw a sample's atoms (small, element colours) and sites (rings, one colour per class).

    Parameters
    ----------
    sample : Sample
        The structure and its sites.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    title : str, optional
        Axes title; the chemical formula when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (x and y in Å, the cell outlined).
    """
    if ax is None:
        ax = Figure(figsize=(5, 5)).add_subplot()
    atoms = sample.atoms
    order = np.argsort(atoms.positions[:, 2])  # upper atoms drawn last, as seen from above
    ax.scatter(
        atoms.positions[order, 0],
        atoms.positions[order, 1],
        s=5,
        c=jmol_colors[atoms.numbers[order]],
        edgecolors="0.3",
        linewidths=0.2,
        zorder=1,
    )
    palette = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:cyan", "tab:olive", "tab:brown"]
    for index, name in enumerate(sample.class_names):
        sites = sample.sites[sample.classes == index]
        ax.scatter(
            sites[:, 0],
            sites[:, 1],
            s=36,
            facecolors="none",
            edgecolors=palette[index % len(palette)],
            linewidths=1.3,
            label=f"{name} ({len(sites)})",
            zorder=2,
        )
    width, height = atoms.cell[0, 0], atoms.cell[1, 1]
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, edgecolor="k", linewidth=0.8))
    ax.set_xlim(-1, width + 1)
    ax.set_ylim(-1, height + 1)
    ax.set_aspect("equal")
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
    ax.set_title(atoms.get_chemical_formula() if title is None else title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    return ax


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
        wave = dataset.load_wave(index)
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
