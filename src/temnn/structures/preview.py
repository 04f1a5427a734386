"""Pictures of generated structures: atoms and column sites seen along the beam.

Plots use matplotlib's object API (``matplotlib.figure.Figure``), never the pyplot state
machine, so they work headless (Agg) and from worker processes.

Examples
--------
>>> import numpy as np
>>> from temnn.structures.mx2 import random_mx2_flake
>>> ax = plot_sample(random_mx2_flake(rng=np.random.default_rng(0), cell=(30, 30)))
>>> ax.get_xlabel()
'x [Å]'
"""

from __future__ import annotations

import numpy as np
from ase.data.colors import jmol_colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .sample import Sample

__all__ = ["plot_sample"]


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


