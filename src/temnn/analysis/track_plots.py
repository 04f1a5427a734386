"""Figures of ``temnn track`` and ``temnn fft-track``: areas over time, frames coloured by id, Fourier peaks.

Every particle id keeps one colour (:func:`id_colour`) in every figure. Arrays index (x, y)
and are drawn transposed with ``origin="lower"`` (x to the right, y upwards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import TemnnError
from ..io.stacks import Stack

__all__ = ["id_colour", "ids_to_plot", "plot_areas", "plot_frames", "plot_peaks", "plot_spectra"]


_ID_COLOURS = 9  # colours that particle ids cycle through in the plots


def ids_to_plot(rows: Sequence[dict[str, float]], ids: Sequence[int] | None, n_ids: int) -> list[int]:
    """The ids to plot: those asked for (all must exist), else the longest-lived, then largest."""
    frames: dict[int, int] = {}
    area: dict[int, float] = {}
    for row in rows:
        i = int(row["id"])
        frames[i] = frames.get(i, 0) + 1
        area[i] = area.get(i, 0.0) + row["area_nm2"]
    if ids is not None:
        missing = [int(i) for i in ids if int(i) not in frames]
        if missing:
            present = ", ".join(map(str, sorted(frames))) or "none"
            raise TemnnError(f"--ids: {', '.join(map(str, missing))} not in the tracked stack (ids present: "
                             f"{present}); see properties.csv")
        return [int(i) for i in ids]
    ranked = sorted(frames, key=lambda i: (-frames[i], -area[i] / frames[i], i))
    return sorted(ranked[:n_ids])


def plot_areas(rows: Sequence[dict[str, float]], ids: list[int], path: Path) -> None:
    """Area against time of the chosen ids, in their frames.png colours (thesis fig. 6.6)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from .plotting import save_figure
    from .tracking import plot_property

    ax = plot_property(rows, name="area_nm2", ids=ids)
    for line in ax.lines:  # colour as in frames.png; ids a colour cycle apart differ in line style
        track_id = int(str(line.get_label()).split()[-1])
        line.set_color(id_colour(track_id))
        line.set_linestyle(("-", "--", ":", "-.")[(track_id - 1) // _ID_COLOURS % 4])
    if ax.lines:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    if ax.get_xlabel() == "frame":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("particle area")
    save_figure(ax.figure, path)
    plt.close(ax.figure)


def id_colour(track_id: int) -> tuple[float, float, float]:
    """The colour of a particle in the plots of ``temnn track``: tab10 without its grey, cycling.

    Parameters
    ----------
    track_id
        The particle's track id (≥ 1).

    Returns
    -------
    tuple of float
        (red, green, blue) [0-1].
    """
    from matplotlib import colormaps

    colours = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]  # grey is lost on grey images
    return colours[(int(track_id) - 1) % _ID_COLOURS]


def _id_colour_map() -> Any:
    """Colour map of :func:`_id_colours` images: transparent background, then the id colours."""
    from matplotlib.colors import ListedColormap

    return ListedColormap([(0, 0, 0, 0)] + [id_colour(i) for i in range(1, _ID_COLOURS + 1)])


def _id_colours(labels: np.ndarray) -> np.ndarray:
    """Colour index per pixel: 0 for background, 1…9 cycling with the id (stable across frames)."""
    return np.where(labels > 0, (labels.astype(np.int64) - 1) % _ID_COLOURS + 1, 0)


def plot_frames(stack: Stack, labels: Stack, rows: Sequence[dict[str, float]], sampling: float,
                 path: Path, *, count: int = 4) -> None:
    """A few frames: the input in grey, particles coloured by id, id numbers at their centres."""
    import matplotlib.pyplot as plt

    from matplotlib.patheffects import withStroke

    from .plotting import save_figure, show_image

    shown = np.unique(np.linspace(0, len(stack) - 1, min(len(stack), count)).round().astype(int))
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 4.3), squeeze=False)
    for ax, t in zip(axes[0], shown):
        show_image(ax, stack.frame(t), sampling=sampling, title=f"frame {t}")
        ax.imshow(_id_colours(labels.frame(t)).T, origin="lower", cmap=_id_colour_map(), vmin=-0.5,
                  vmax=_ID_COLOURS + 0.5, alpha=0.55, interpolation="nearest")
        for row in rows:
            if int(row["frame"]) == t:
                ax.text(row["com_x_nm"] * 10 / sampling, row["com_y_nm"] * 10 / sampling, str(int(row["id"])),
                        color="white", fontsize=8, ha="center", va="center", fontweight="bold",
                        path_effects=[withStroke(linewidth=2, foreground="black")])
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_peaks(rows: list[dict[str, float]], track_id: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    from .fourier import plot_fourier_peaks

    fig, axes = plot_fourier_peaks(rows)
    axes[0].set_title(f"Fourier peaks of particle {track_id} (thesis fig. 6.5 b, c)")
    from .plotting import save_figure

    save_figure(fig, path)
    plt.close(fig)


def plot_spectra(images: Stack, labels: Stack, spectra: Stack, rows: list[dict[str, float]], track_id: int,
                  sampling: float, size: int, window: int, path: Path, *, count: int = 5) -> None:
    """Crops of the particle (its outline drawn) above their spectra with the peak windows (thesis fig. 6.4)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .fourier import _crop, show_power_spectrum
    from .plotting import save_figure, show_image

    present = sorted({int(r["frame"]) for r in rows if np.isfinite(r["intensity"])})
    if not present:
        present = [0]
    shown = [present[i] for i in np.unique(np.linspace(0, len(present) - 1, min(len(present), count)).round()
                                           .astype(int))]
    fig, axes = plt.subplots(2, len(shown), figsize=(3.2 * len(shown), 6.6), squeeze=False)
    dq = 1.0 / (size * sampling)
    for column, t in enumerate(shown):
        mask = labels.frame(t) == track_id
        top, bottom = axes[0][column], axes[1][column]
        if not mask.any():
            top.set_axis_off()
            bottom.set_axis_off()
            top.set_title(f"frame {t}: particle absent")
            continue
        ix, iy = np.nonzero(mask)
        # The crop that apodised_power_spectrum transforms: size × size, centred on the bounding box.
        corner = ((int(ix.min() + ix.max()) + 1 - size) // 2, (int(iy.min() + iy.max()) + 1 - size) // 2)
        show_image(top, _crop(np.asarray(images.frame(t), dtype=np.float64), corner, size),
                   sampling=sampling, title=f"frame {t}")
        top.contour(_crop(mask.astype(np.float64), corner, size).T, levels=[0.5], colors="yellow", linewidths=0.8)
        show_power_spectrum(bottom, spectra.frame(t), sampling)
        for r in rows:
            if int(r["frame"]) == t and np.isfinite(r["qx_inv_angstrom"]):
                for sign in (1, -1):
                    bottom.add_patch(Rectangle((sign * r["qx_inv_angstrom"] - window * dq / 2,
                                                sign * r["qy_inv_angstrom"] - window * dq / 2),
                                               window * dq, window * dq, fill=False,
                                               edgecolor=f"C{int(r['peak'])}", linewidth=0.8))
    fig.suptitle(f"particle {track_id}: crops and power spectra (thesis fig. 6.4)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
