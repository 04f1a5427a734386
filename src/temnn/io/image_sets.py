"""An image set on disk: images + labels made from the exit waves of one dataset folder.

Layout (DESIGN.md, 'Contracts between stages')::

    DATA/images/NAME/parameters.json   the parameters file used (validated copy)
    DATA/images/NAME/NNNNN_EE.npz      image (C, nx, ny) float32, label (K, nx, ny) float32,
                                       sampling [Å/pixel], origin (2,) [Å]
    DATA/images/NAME/NNNNN_EE.json     the microscope parameters drawn for that image
    DATA/images/NAME/debug/NNNNN_EE.png  image + label side by side (``debug`` in the parameters)

``NNNNN`` is the sample (exit wave) index, ``EE`` the image epoch. Arrays index
``(x, y)`` like the waves: ``image[c, ix, iy]`` lies at ``origin + (ix, iy)·sampling``
in the cell frame of the structure. Every file is written atomically; an image
counts as done when its ``.npz`` exists (written after its ``.json``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_path, read_json, read_numpy, save_npz, write_json
from ..errors import TemnnError

__all__ = [
    "ImageRecord",
    "list_images",
    "image_set_folder",
    "image_paths",
    "is_image_done",
    "write_image",
    "read_image",
    "read_image_file",
    "write_debug_png",
]

_NAME = re.compile(r"^(\d{5,})_(\d{2,})\.npz$")


@dataclass(frozen=True)
class ImageRecord:
    """One stored image with its label.

    Attributes
    ----------
    image : numpy.ndarray, shape (C, nx, ny), float32
        Image or focal series (vacuum intensity 1 before noise).
    label : numpy.ndarray, shape (K, nx, ny), float32
        Label on the same pixel grid.
    sampling : float
        Pixel size [Å/pixel].
    origin : tuple[float, float]
        Position (x, y) of pixel (0, 0) in the structure's cell frame [Å].
    microscope : dict
        The drawn microscope parameters (``MicroscopeParameters.to_dict()``).
    """

    image: np.ndarray
    label: np.ndarray
    sampling: float
    origin: tuple[float, float]
    microscope: dict[str, Any]


def image_set_folder(data: str | os.PathLike, name: str) -> Path:
    """Folder of the image set ``name`` in the dataset folder ``data``: ``DATA/images/NAME``."""
    return Path(data) / "images" / name


def image_paths(folder: str | os.PathLike, index: int, epoch: int) -> tuple[Path, Path]:
    """The ``.npz`` and ``.json`` file of image ``(index, epoch)`` in an image-set folder."""
    stem = Path(folder) / f"{index:05d}_{epoch:02d}"
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def is_image_done(folder: str | os.PathLike, index: int, epoch: int) -> bool:
    """True when image ``(index, epoch)`` and its microscope parameters are on disk."""
    return all(p.exists() for p in image_paths(folder, index, epoch))


def write_image(
    folder: str | os.PathLike,
    index: int,
    epoch: int,
    *,
    image: np.ndarray,
    label: np.ndarray,
    sampling: float,
    origin: tuple[float, float],
    microscope: dict[str, Any],
) -> None:
    """Write one image, its label and its microscope parameters atomically.

    Parameters
    ----------
    folder : path
        Image-set folder (``DATA/images/NAME``).
    index : int
        Sample (exit wave) index.
    epoch : int
        Image epoch.
    image : numpy.ndarray, shape (C, nx, ny)
        Image or focal series.
    label : numpy.ndarray, shape (K, nx, ny)
        Label on the image's grid.
    sampling : float
        Pixel size [Å/pixel].
    origin : tuple[float, float]
        Position of pixel (0, 0) [Å].
    microscope : dict
        Microscope parameters of the image (``MicroscopeParameters.to_dict()``).
    """
    image = np.asarray(image, dtype=np.float32)
    label = np.asarray(label, dtype=np.float32)
    if image.ndim != 3 or label.ndim != 3 or image.shape[1:] != label.shape[1:]:
        raise ValueError(f"image {image.shape} and label {label.shape} must be (C, nx, ny) and (K, nx, ny)")
    npz, json_path = image_paths(folder, index, epoch)
    # The JSON goes first: the .npz, written last, marks the image as done.
    write_json(json_path, microscope)
    save_npz(
        npz,
        image=image,
        label=label,
        sampling=np.float64(sampling),
        origin=np.asarray(origin, dtype=np.float64),
    )


def read_image(folder: str | os.PathLike, index: int, epoch: int) -> ImageRecord:
    """Read image ``(index, epoch)`` of an image set.

    Raises
    ------
    TemnnError
        The image is missing (the ``temnn images`` run did not reach it).
    """
    return read_image_file(*image_paths(folder, index, epoch))


def read_image_file(npz: str | os.PathLike, microscope: str | os.PathLike) -> ImageRecord:
    """Read an image + label ``.npz`` and its microscope-parameters ``.json`` given by their paths.

    Parameters
    ----------
    npz : path
        The ``NNNNN_EE.npz`` file (``image``, ``label``, ``sampling`` [Å/pixel], ``origin`` [Å]).
    microscope : path
        The JSON file of the microscope parameters drawn for that image.

    Raises
    ------
    TemnnError
        A file is missing or the ``.npz`` lacks one of its arrays.
    """
    npz, microscope = Path(npz), Path(microscope)
    if not npz.exists():
        raise TemnnError(f"{npz}: image not found; run 'temnn images' on the dataset (it resumes where it stopped)")
    keys = ("image", "label", "sampling", "origin")
    with read_numpy(npz) as f:
        missing = [key for key in keys if key not in f.files]
        if missing:
            raise TemnnError(
                f"{npz}: not a temnn image file (no array {', '.join(missing)}); expected {', '.join(keys)} "
                "as written by 'temnn images'"
            )
        arrays = {key: f[key] for key in keys}
    return ImageRecord(
        image=arrays["image"],
        label=arrays["label"],
        sampling=float(arrays["sampling"]),
        origin=(float(arrays["origin"][0]), float(arrays["origin"][1])),
        microscope=read_json(microscope),
    )


def list_images(folder: str | os.PathLike) -> list[tuple[int, int]]:
    """The finished images ``(index, epoch)`` of an image-set folder, sorted.

    Raises
    ------
    TemnnError
        ``folder`` is not an image set (no ``parameters.json``).
    """
    folder = Path(folder)
    if not (folder / "parameters.json").exists():
        raise TemnnError(
            f"{folder}: not an image set (no parameters.json); create one with 'temnn images DATA PARAMS.json'"
        )
    return sorted((int(m.group(1)), int(m.group(2))) for p in folder.iterdir() if (m := _NAME.match(p.name)))


# --------------------------------------------------------------------------- debug PNG
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
